// Package atomicfile writes user data so that readers and crashes see the
// old file or the new one, never a torn one: write a temporary file beside
// the target, sync it, rename it over the target, sync the folder.
package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
)

// tmpInfix is what every temporary file of this package has between the
// target's name and os.CreateTemp's random digits: ".NAME.tmp-123456".
const tmpInfix = ".tmp-"

// newInfix marks a temporary file in the moment before it is locked.
const newInfix = ".new-"

// tempPattern matches this package's temporary files and nothing else.
var tempPattern = regexp.MustCompile(`^\..+\.tmp-[0-9]+$`)

// CleanStale removes the temporary files a killed run left in dir: only
// regular files named like this package's (".NAME.tmp-DIGITS") whose
// writer is gone, i.e. whose lock can be taken (a live writer holds it).
// It returns the names removed.
func CleanStale(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range ents {
		if !e.Type().IsRegular() || !tempPattern.MatchString(e.Name()) {
			continue // never a link, a folder or anyone else's file
		}
		p := filepath.Join(dir, e.Name())
		f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			if os.Remove(p) == nil {
				removed = append(removed, e.Name())
			}
		}
		f.Close()
	}
	return removed, nil
}

// Write replaces path with data atomically (mode 0644).
func Write(path string, data []byte) error {
	return WriteWith(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteWith replaces path atomically with what write produces through a
// buffered writer; when write fails, path is untouched and the temporary
// file removed. Errors name path.
func WriteWith(path string, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	// The file is made under a name CleanStale never touches, locked, and
	// only then given its temporary name, so CleanStale can never see an
	// unlocked file of a live writer (it did, between create and lock).
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+newInfix+"*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	// Held until the file is closed or the process dies, so CleanStale can
	// tell a live writer's file from one left by a killed run. Folders
	// without flock support just go without.
	syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	tmp := strings.Replace(f.Name(), newInfix, tmpInfix, 1)
	if rerr := os.Rename(f.Name(), tmp); rerr != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("writing %s: %w", path, rerr)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("writing %s: %w", path, err)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err = write(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	// Persist the rename itself; not every platform can sync a folder.
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
