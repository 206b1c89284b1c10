package dicomnode

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"cmrseg/app/anonymise"
	"cmrseg/app/shareddata"
	"cmrseg/app/studyio"
)

// TestMain doubles as storescp's end-of-study hook: storescp runs this
// test binary as "SELF node complete --config FILE DIR", as it would run
// cmrseg.
func TestMain(m *testing.M) {
	if len(os.Args) == 6 && os.Args[1] == "node" && os.Args[2] == "complete" && os.Args[3] == "--config" {
		c, err := LoadConfig(os.Args[4])
		if err == nil {
			_, err = Complete(c, os.Args[5])
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "hook:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (dcmtk is required under CI=true)", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

func writeConfig(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "dicom-node.conf")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	good := "ae_title = CMRSEG\nport = 11112\nallowed_calling_ae = SCANNER1 PACS\ninbox = /var/lib/cmrseg/inbox\n"
	c, err := LoadConfig(writeConfig(t, dir, good))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	if rel, err := LoadConfig("dicom-node.conf"); err != nil || rel.Path != filepath.Join(dir, "dicom-node.conf") || !strings.Contains(strings.Join(rel.StorescpArgs("/usr/bin/cmrseg"), " "), "--config '"+rel.Path+"' '#p'") {
		t.Errorf("a relative configuration path must reach the hook absolute: %+v (%v)", rel, err)
	}
	if c.AETitle != "CMRSEG" || c.Port != 11112 || !slices.Equal(c.Allowed, []string{"SCANNER1", "PACS"}) || c.StudyTimeout != 30 || !c.Allows("PACS") || c.Allows("OTHER") {
		t.Fatalf("parsed %+v", c)
	}
	for _, bad := range []struct{ body, want string }{
		{strings.Replace(good, "port = 11112", "port = 70000", 1), "line 2: port"},
		{strings.Replace(good, "CMRSEG", "A_TITLE_FAR_TOO_LONG", 1), "line 1: ae_title"},
		{strings.Replace(good, "SCANNER1", "SCAN'1", 1), "allowed_calling_ae"},
		{strings.Replace(good, "/var/lib/cmrseg/inbox", "inbox", 1), "absolute"},
		{good + "colour = blue\n", "unknown setting"},
		{good + "port = 104\n", "given twice"},
		{"port = 104\n", "missing ae_title"},
		{"nonsense\n", "want key = value"},
	} {
		_, err := LoadConfig(writeConfig(t, dir, bad.body))
		if err == nil || !strings.Contains(err.Error(), bad.want) || !strings.Contains(err.Error(), "dicom-node.conf") {
			t.Errorf("%q: error %v, want %q and the file name", bad.body, err, bad.want)
		}
	}
}

// freePort asks the kernel for a free loopback port (the listener is
// closed again before storescp binds it).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestStorescuToInbox is the round trip: storescp started with this
// package's arguments, the Sunnybrook series sent with dcmtk's storescu
// over loopback from an allowed AE title, two more files of the study
// from a caller that is not allowed; the inbox then lists one complete
// study of the 240 allowed files, which reads back as the original
// series. While the node runs, storescp holds exactly one internet
// socket, listening on the configured port; this process, which only
// watched the folder, holds none.
func TestStorescuToInbox(t *testing.T) {
	storescp, storescu := tool(t, "storescp"), tool(t, "storescu")
	src := shareddata.Require(t, "sunnybrook/SCD0000101")
	dir := t.TempDir()
	inbox := filepath.Join(dir, "inbox")
	port := freePort(t)
	cfgPath := writeConfig(t, dir, fmt.Sprintf("ae_title = CMRSEG\nport = %d\nallowed_calling_ae = SCANNER1\ninbox = %s\nstudy_timeout = 2\n", port, inbox))
	c, err := LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(c.Incoming(), 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	node := exec.Command(storescp, c.StorescpArgs(self)...)
	node.Stdout, node.Stderr = &log, &log
	if err := node.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Process.Kill(); node.Wait() })

	// Watch the inbox as the window does.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seen := make(chan []Arrival, 16)
	go Watch(ctx, inbox, 200*time.Millisecond, func(l []Arrival, err error) {
		if err == nil {
			seen <- l
		}
	})

	// The listening socket, once storescp is up.
	var socks []Socket
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if socks, err = InetSockets(node.Process.Pid); err == nil && len(socks) > 0 {
			break
		}
	}
	if len(socks) != 1 || !socks[0].Listening() || socks[0].Port != port {
		t.Fatalf("storescp's internet sockets %+v, want one listening on %d\n%s", socks, port, log.String())
	}
	t.Logf("storescp (pid %d) holds %+v", node.Process.Pid, socks)

	files, _ := filepath.Glob(filepath.Join(src, "*.dcm"))
	sort.Strings(files)
	start := time.Now()
	send := func(aet string, fs []string) {
		args := append([]string{"-aet", aet, "-aec", "CMRSEG", "127.0.0.1", fmt.Sprint(port)}, fs...)
		if out, err := exec.Command(storescu, args...).CombinedOutput(); err != nil {
			t.Fatalf("storescu %s: %v\n%s", aet, err, out)
		}
	}
	send("SCANNER1", files)
	sent := time.Since(start)
	// The caller not allowed sends a study of its own (two files of the
	// series, anonymised: another study UID); it must never be listed.
	a0, err := anonymise.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a0.Dir(files[0], filepath.Join(dir, "other")); err != nil {
		t.Fatal(err)
	}
	other, _ := filepath.Glob(filepath.Join(dir, "other", "*.dcm"))
	send("INTRUDER", other)

	var got []Arrival
	deadline := time.After(60 * time.Second)
	for len(got) == 0 {
		select {
		case l := <-seen:
			got = l
		case <-deadline:
			t.Fatalf("no complete study in the inbox after 60 s\nstorescp: %s", log.String())
		}
	}
	listed := time.Since(start)
	if len(got) != 1 {
		t.Fatalf("inbox lists %d studies, want 1: %+v", len(got), got)
	}
	a := got[0]
	if a.Files != 240 || a.Refused != 0 || !slices.Equal(a.CallingAE, []string{"SCANNER1"}) || a.Series != 1 || a.PatientID != "SCD0000101" {
		t.Fatalf("arrival %+v", a)
	}
	// The intruder's study is deleted once it ends.
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		ents, _ := os.ReadDir(c.Incoming())
		if len(ents) == 0 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("incoming still holds %d entries\n%s", len(ents), log.String())
		}
	}
	if l, _ := List(inbox); len(l) != 1 {
		t.Errorf("inbox lists %d studies after the intruder's, want 1", len(l))
	}
	if !strings.Contains(log.String(), `calling AE title "INTRUDER" is not in allowed_calling_ae`) {
		t.Errorf("the node's log does not say it deleted the intruder's file:\n%s", log.String())
	}
	st, err := studyio.Open(a.Dir)
	if err != nil {
		t.Fatalf("opening the received study: %v", err)
	}
	orig, err := studyio.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	r, o := st.Series[0], orig.Series[0]
	if r.Dims != o.Dims || r.NT != o.NT || !slices.Equal(r.Data, o.Data) {
		t.Fatalf("received series %v×%d differs from the source %v×%d", r.Dims, r.NT, o.Dims, o.NT)
	}
	t.Logf("sent 240 files in %.1f s; listed complete %.1f s after the first file (study_timeout 2 s): %s", sent.Seconds(), listed.Seconds(), a.Title())

	// This process only read folders: no internet socket (the free-port
	// probe above was closed).
	if mine, err := InetSockets(os.Getpid()); err != nil || len(mine) != 0 {
		t.Errorf("the watching process holds internet sockets %+v (%v)", mine, err)
	}
}

// TestCompleteChecksSenders runs the hook on a hand-made study folder:
// the file from a caller not allowed is deleted, the rest published.
func TestCompleteChecksSenders(t *testing.T) {
	dir := t.TempDir()
	c, err := LoadConfig(writeConfig(t, dir, fmt.Sprintf("ae_title = CMRSEG\nport = 104\nallowed_calling_ae = PACS\ninbox = %s\n", filepath.Join(dir, "inbox"))))
	if err != nil {
		t.Fatal(err)
	}
	study := filepath.Join(c.Incoming(), "st_1")
	os.MkdirAll(study, 0o755)
	// A file not from the allowed caller (the Sunnybrook files have an
	// empty Source AE title) and a non-DICOM file.
	src := shareddata.Require(t, "sunnybrook/SCD0000101/1.dcm")
	b, _ := os.ReadFile(src)
	os.WriteFile(filepath.Join(study, "MR.1"), b, 0o644)
	os.WriteFile(filepath.Join(study, "junk"), []byte("not dicom"), 0o644)
	if _, err := Complete(c, study); err == nil || !strings.Contains(err.Error(), "no file from an allowed calling AE title (2 deleted)") {
		t.Fatalf("Complete: %v", err)
	}
	if _, err := os.Stat(study); !os.IsNotExist(err) {
		t.Errorf("the refused study folder is still there")
	}
	if _, err := Complete(c, filepath.Join(dir, "elsewhere")); err == nil || !strings.Contains(err.Error(), "not a study folder") {
		t.Errorf("Complete outside incoming: %v", err)
	}
	if l, err := List(c.Inbox); err != nil || len(l) != 0 {
		t.Errorf("inbox lists %v (%v)", l, err)
	}
}
