// Package dicomnode is the receiving side of cmrseg's DICOM node: the
// configuration of dcmtk's storescp (AE title, port, allowed calling AE
// titles, inbox folder), the end-of-study hook that checks the senders and
// publishes a complete study into the inbox, and the inbox listing the
// window polls. It opens no network connection itself: the listening
// socket belongs to storescp, started only when a site enables the node.
package dicomnode

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultConfigPath is where the .deb installs the configuration;
// $CMRSEG_NODE_CONFIG overrides it.
const DefaultConfigPath = "/etc/cmrseg/dicom-node.conf"

// ConfigPath is $CMRSEG_NODE_CONFIG, else DefaultConfigPath.
func ConfigPath() string {
	if p := os.Getenv("CMRSEG_NODE_CONFIG"); p != "" {
		return p
	}
	return DefaultConfigPath
}

// Config is the node's configuration file, "key = value" lines with '#'
// comments:
//
//	ae_title = CMRSEG
//	port = 11112
//	allowed_calling_ae = SCANNER1 PACS   (or * for any)
//	inbox = /var/lib/cmrseg/inbox
//	study_timeout = 30
type Config struct {
	Path         string   // the file it was read from
	AETitle      string   // this node's AE title
	Port         int      // TCP port storescp listens on
	Allowed      []string // calling AE titles whose objects are kept; ["*"]: any
	Inbox        string   // absolute folder; studies arrive in Inbox/incoming first
	StudyTimeout int      // seconds without a new object that end a study
}

// aeOK: AE titles are 1 to 16 characters of the default repertoire, no
// backslash or control characters (PS3.5 6.2); they are also kept clear of
// quotes so no value ever needs shell quoting.
func aeOK(s string) bool {
	if s == "" || len(s) > 16 {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r > 0x7E || r == '\\' || r == '\'' || r == '"' {
			return false
		}
	}
	return true
}

// LoadConfig reads and checks a configuration file; errors name the file
// and the line.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("DICOM node configuration: %w", err)
	}
	abs, err := filepath.Abs(path) // the hook runs from storescp's working folder
	if err != nil {
		return nil, fmt.Errorf("DICOM node configuration: %w", err)
	}
	c := &Config{Path: abs, StudyTimeout: 30}
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		bad := func(why string) error { return fmt.Errorf("%s line %d: %s: %s", path, n, k, why) }
		if !ok {
			return nil, fmt.Errorf("%s line %d: want key = value, got %q", path, n, line)
		}
		if seen[k] {
			return nil, bad("given twice")
		}
		seen[k] = true
		switch k {
		case "ae_title":
			if !aeOK(v) {
				return nil, bad("an AE title is 1 to 16 printable characters without \\ or quotes")
			}
			c.AETitle = v
		case "port":
			p, err := strconv.Atoi(v)
			if err != nil || p < 1 || p > 65535 {
				return nil, bad("a port number 1 to 65535")
			}
			c.Port = p
		case "allowed_calling_ae":
			for _, ae := range strings.Fields(v) {
				if ae != "*" && !aeOK(ae) {
					return nil, bad(fmt.Sprintf("%q is not an AE title", ae))
				}
				c.Allowed = append(c.Allowed, ae)
			}
		case "inbox":
			if !filepath.IsAbs(v) || strings.ContainsAny(v, "'\"\\$`\n") {
				return nil, bad("an absolute folder path without quotes, $, ` or backslashes")
			}
			c.Inbox = filepath.Clean(v)
		case "study_timeout":
			s, err := strconv.Atoi(v)
			if err != nil || s < 1 || s > 3600 {
				return nil, bad("seconds, 1 to 3600")
			}
			c.StudyTimeout = s
		default:
			return nil, bad("unknown setting (known: ae_title, port, allowed_calling_ae, inbox, study_timeout)")
		}
	}
	var missing []string
	if c.AETitle == "" {
		missing = append(missing, "ae_title")
	}
	if c.Port == 0 {
		missing = append(missing, "port")
	}
	if c.Inbox == "" {
		missing = append(missing, "inbox")
	}
	if len(c.Allowed) == 0 {
		missing = append(missing, "allowed_calling_ae (use * to accept any sender)")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s: missing %s", path, strings.Join(missing, ", "))
	}
	if strings.ContainsAny(abs, "'\"\\$`\n") {
		return nil, errors.New("the configuration file path must not contain quotes, $, ` or backslashes (it goes into storescp's hook command)")
	}
	return c, nil
}

// Allows reports whether objects from calling AE title ae are kept.
func (c *Config) Allows(ae string) bool {
	for _, a := range c.Allowed {
		if a == "*" || a == ae {
			return true
		}
	}
	return false
}

// Incoming is where storescp writes studies while they arrive.
func (c *Config) Incoming() string { return filepath.Join(c.Inbox, "incoming") }

// StorescpArgs is storescp's command line (without the program) for this
// configuration; self is the cmrseg executable the end-of-study hook runs.
// Studies are sorted by arrival (--sort-conc-studies), so a study's folder
// name holds only a prefix and a time stamp: the hook command line that
// storescp hands to /bin/sh contains nothing a sender chose (no AE title,
// no UID), only paths from this file.
func (c *Config) StorescpArgs(self string) []string {
	hook := fmt.Sprintf("'%s' node complete --config '%s' '#p'", self, c.Path)
	return []string{
		"--aetitle", c.AETitle,
		"+xa", // accept every transfer syntax storescp knows (compressed too), stored as received
		"--output-directory", c.Incoming(),
		"--sort-conc-studies", "st",
		"--eostudy-timeout", strconv.Itoa(c.StudyTimeout),
		"--exec-on-eostudy", hook,
		"--disable-host-lookup",
		strconv.Itoa(c.Port),
	}
}
