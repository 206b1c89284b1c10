package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"cmrseg/app/dicomnode"
)

func init() {
	register("node", "the receiving DICOM node (dcmtk storescp): run, list the inbox, end-of-study hook", runNode)
}

func runNode(args []string, stdout, stderr io.Writer) error {
	usage := func() error {
		fmt.Fprintln(stderr, "usage: cmrseg node run      [--config FILE]   start storescp with the configuration (replaces this process)")
		fmt.Fprintln(stderr, "       cmrseg node args     [--config FILE]   print the storescp command line")
		fmt.Fprintln(stderr, "       cmrseg node list     [--config FILE]   list the complete studies in the inbox")
		fmt.Fprintln(stderr, "       cmrseg node complete --config FILE DIR  storescp's end-of-study hook (checks senders, publishes DIR)")
		fmt.Fprintf(stderr, "\nFILE defaults to $CMRSEG_NODE_CONFIG, else %s. The node is off unless a site starts it\n", dicomnode.DefaultConfigPath)
		fmt.Fprintln(stderr, "(systemctl enable --now cmrseg-dicom-node); the window only reads the inbox folder.")
		return errUsage
	}
	if len(args) == 0 {
		return usage()
	}
	sub := args[0]
	fs := newFlags("node "+sub, stderr)
	cfgPath := fs.String("config", dicomnode.ConfigPath(), "configuration file")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := dicomnode.LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	switch sub {
	case "args", "run":
		self, err := os.Executable()
		if err != nil {
			return err
		}
		if s := os.Getenv("CMRSEG_NODE_SELF"); s != "" {
			self = s // the hook program, when cmrseg runs from a wrapper (tests)
		}
		if strings.ContainsAny(self, "'\"\\$`\n") {
			return fmt.Errorf("cmrseg is installed at %q; the hook command cannot quote that path", self)
		}
		storescp, err := exec.LookPath("storescp")
		if err != nil {
			return errors.New("storescp not found: install dcmtk (apt install dcmtk)")
		}
		argv := append([]string{storescp}, cfg.StorescpArgs(self)...)
		if sub == "args" {
			shown := make([]string, len(argv))
			for i, a := range argv {
				shown[i] = a
				if strings.ContainsAny(a, " '") {
					shown[i] = `"` + a + `"` // the hook holds no double quote or $ (LoadConfig checks)
				}
			}
			fmt.Fprintln(stdout, strings.Join(shown, " "))
			return nil
		}
		if err := os.MkdirAll(cfg.Incoming(), 0o750); err != nil {
			return fmt.Errorf("inbox: %w", err)
		}
		fmt.Fprintf(stderr, "cmrseg node: AE title %s, port %d, allowed calling AE titles %s, inbox %s\n",
			cfg.AETitle, cfg.Port, strings.Join(cfg.Allowed, " "), cfg.Inbox)
		// storescp takes this process' place, so systemd supervises it directly.
		return syscall.Exec(storescp, argv, os.Environ())
	case "list":
		l, err := dicomnode.List(cfg.Inbox)
		if err != nil {
			return err
		}
		for _, a := range l {
			fmt.Fprintf(stdout, "%s\t%s\n", a.Dir, a.Title())
		}
		fmt.Fprintf(stdout, "%d complete stud%s in %s\n", len(l), map[bool]string{true: "y", false: "ies"}[len(l) == 1], cfg.Inbox)
		return nil
	case "complete":
		if fs.NArg() != 1 {
			return usage()
		}
		a, err := dicomnode.Complete(cfg, fs.Arg(0))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "complete: %s (%d files, %d refused)\n", a.Dir, a.Files, a.Refused)
		return nil
	}
	return usage()
}
