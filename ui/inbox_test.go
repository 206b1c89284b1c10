package ui

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cmrseg/app/dicomnode"
	"cmrseg/app/shareddata"
)

// A study completed in the DICOM node's inbox is announced on the status
// line, listed in File ▸ DICOM inbox, and opens when chosen.
func TestInboxListsAndOpens(t *testing.T) {
	src := shareddata.Require(t, "sunnybrook/SCD0000101")
	dir := t.TempDir()
	inbox := filepath.Join(dir, "inbox")
	cfgPath := filepath.Join(dir, "dicom-node.conf")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf("ae_title = CMRSEG\nport = 11112\nallowed_calling_ae = *\ninbox = %s\n", inbox)), 0o644)
	t.Setenv("CMRSEG_NODE_CONFIG", cfgPath)
	defer func(p time.Duration) { inboxPoll = p }(inboxPoll)
	inboxPoll = 100 * time.Millisecond
	cfg, err := dicomnode.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(cfg.Incoming(), 0o755)

	v := newViewer(t)
	if v.inbox == nil || v.inbox.cfgErr != nil {
		t.Fatalf("inbox not watched: %+v", v.inbox)
	}
	v.inbox.mu.Lock()
	v.inbox.changed = make(chan struct{}, 8)
	v.inbox.mu.Unlock()

	// What storescp and its end-of-study hook leave behind.
	study := filepath.Join(cfg.Incoming(), "st_20260101_120000000")
	os.MkdirAll(study, 0o755)
	files, _ := filepath.Glob(filepath.Join(src, "*.dcm"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(study, filepath.Base(f)), b, 0o644)
	}
	a, err := dicomnode.Complete(cfg, study)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(v.messageText.Text, "DICOM inbox: new study") {
		if _, ok := awaitUI(v.inbox.changed, time.Until(deadline)); !ok {
			t.Fatalf("no announcement; status %q", v.messageText.Text)
		}
	}
	v.showInbox()
	if v.inboxList == nil || v.inboxList.Length() != 1 {
		t.Fatalf("inbox dialog lists %v rows", v.inboxList.Length())
	}
	v.inboxList.Select(0)
	wait(t, v)
	s := v.ws.Series()
	if s == nil || s.Dims != [3]int{256, 256, 12} || s.NT != 20 || len(s.Meta.SourcePaths) == 0 || !strings.HasPrefix(s.Meta.SourcePaths[0], a.Dir) {
		t.Fatalf("opened %+v from %v, want the 256×256×12×20 series in %s", s.Dims, s.Meta.SourcePaths[:min(1, len(s.Meta.SourcePaths))], a.Dir)
	}
}
