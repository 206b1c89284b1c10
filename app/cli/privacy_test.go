package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cmrseg/app/dicomnode"
	"cmrseg/app/shareddata"
)

// TestPrivacySockets: the review window, with the DICOM node configured
// but off, holds no internet socket at all (it only polls the inbox
// folder). With the node on (`cmrseg node run`, which becomes storescp),
// the node holds exactly one, listening on the configured port, and the
// window still none. A series sent with storescu over loopback then shows
// up in the running window as a new complete study.
func TestPrivacySockets(t *testing.T) {
	needTools(t)
	storescu, err := exec.LookPath("storescu")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("storescu (dcmtk) is required under CI=true")
		}
		t.Skip("dcmtk not installed")
	}
	if _, err := exec.LookPath("storescp"); err != nil {
		t.Skip("storescp not installed")
	}
	src := shareddata.Require(t, "sunnybrook/SCD0000101")
	dir := t.TempDir()
	inbox := filepath.Join(dir, "inbox")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cfg := filepath.Join(dir, "dicom-node.conf")
	os.WriteFile(cfg, []byte(fmt.Sprintf("ae_title = CMRSEG\nport = %d\nallowed_calling_ae = SCANNER1\ninbox = %s\nstudy_timeout = 2\n", port, inbox)), 0o644)
	os.MkdirAll(filepath.Join(inbox, "incoming"), 0o755)

	x := startXvfb(t)
	g := launchApp(t, x, "", appEnv(dir, "CMRSEG_NODE_CONFIG="+cfg), "gui")
	g.wait(`^cmrseg-debug: inbox 0 complete studies`, time.Minute)
	time.Sleep(3 * time.Second) // a few more polls of the inbox
	sockets := func(what string, pid int) []dicomnode.Socket {
		s, err := dicomnode.InetSockets(pid)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return s
	}
	if s := sockets("window", g.cmd.Process.Pid); len(s) != 0 {
		t.Fatalf("node off: the window holds internet sockets %+v", s)
	}
	t.Logf("node off: the window (pid %d) holds no internet socket", g.cmd.Process.Pid)

	// The node on: this test binary runs `cmrseg node run`, which execs
	// storescp; its end-of-study hook runs `cmrseg node complete` through
	// a small script (the test binary takes its arguments from the
	// environment).
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	hook := filepath.Join(dir, "cmrseg-hook")
	os.WriteFile(hook, []byte("#!/bin/sh\nexec env CMRSEG_TEST_APP_ARGS=\"[\\\"node\\\",\\\"complete\\\",\\\"--config\\\",\\\"$4\\\",\\\"$5\\\"]\" '"+exe+"'\n"), 0o755)
	args, _ := json.Marshal([]string{"node", "run", "--config", cfg})
	node := exec.Command(exe)
	node.Env = append(os.Environ(), "CMRSEG_TEST_APP_ARGS="+string(args), "CMRSEG_NODE_SELF="+hook)
	var log bytes.Buffer
	node.Stdout, node.Stderr = &log, &log
	if err := node.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Process.Kill(); node.Wait() })
	var ns []dicomnode.Socket
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end) && len(ns) == 0; time.Sleep(100 * time.Millisecond) {
		ns = sockets("node", node.Process.Pid)
	}
	if len(ns) != 1 || !ns[0].Listening() || ns[0].Port != port {
		t.Fatalf("node on: its internet sockets %+v, want one listening on %d\n%s", ns, port, log.String())
	}
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", node.Process.Pid))
	t.Logf("node on: pid %d (%s) holds %+v", node.Process.Pid, strings.TrimSpace(string(comm)), ns)

	files, _ := filepath.Glob(filepath.Join(src, "*.dcm"))
	start := time.Now()
	out, err := exec.Command(storescu, append([]string{"-aet", "SCANNER1", "-aec", "CMRSEG", "127.0.0.1", fmt.Sprint(port)}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("storescu: %v\n%s", err, out)
	}
	g.wait(`^cmrseg-debug: inbox 1 complete studies, 1 new`, time.Minute)
	t.Logf("storescu sent %d files; the window listed the complete study %.1f s after the send began", len(files), time.Since(start).Seconds())
	if s := sockets("window", g.cmd.Process.Pid); len(s) != 0 {
		t.Fatalf("node on: the window holds internet sockets %+v", s)
	}
	if s := sockets("node", node.Process.Pid); len(s) != 1 || !s[0].Listening() {
		t.Fatalf("after the transfer the node holds %+v", s)
	}
	if a, err := dicomnode.List(inbox); err != nil || len(a) != 1 || a[0].Files != len(files) {
		t.Fatalf("inbox %+v (%v)\n%s", a, err, log.String())
	}
}
