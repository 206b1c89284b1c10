package session

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"time"

	"cmrseg/app/atomicfile"
)

// Journal file layout: a fixed magic, then records. Each record is
//
//	uint32 LE payload length | uint32 LE CRC-32 (IEEE) of payload | payload
//
// and the first payload is the header naming the study and segmentation.
// A record is written with one write and then fsynced, so after a kill -9 the
// file ends with whole records, possibly followed by one torn record, which
// the length and CRC expose.
var journalMagic = []byte("CMRSEG-JOURNAL\x00\x01")

// Record types (first payload byte).
const (
	recHeader byte = 1
	recEdit   byte = 2
	recUndo   byte = 3
	recRedo   byte = 4
	recAccept byte = 5
	recFinal  byte = 6
)

// maxRecord bounds a payload so a corrupt length cannot make us allocate
// gigabytes: one edit touches at most one slice, 6 bytes per voxel.
const maxRecord = 64 << 20

type journal struct {
	f    *os.File
	path string
	off  int64 // end of the last good record; the next write goes here
	// broken is set when a failed write could not be rolled back; no
	// further record may be appended after the damage.
	broken error
}

type header struct {
	studyKey, segKey string
}

func encodeHeader(h header) []byte {
	b := []byte{recHeader}
	b = appendString(b, h.studyKey)
	return appendString(b, h.segKey)
}

func appendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func frame(payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.LittleEndian.PutUint32(b, uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[4:], crc32.ChecksumIEEE(payload))
	return append(b, payload...)
}

// rawRecord is a record's payload and the offset of its frame.
type rawRecord struct {
	payload []byte
	off     int64
}

// scanRecords reads whole, valid records after the magic. It returns them,
// the offset just past the last good one, and a description of what
// followed when the file did not end cleanly ("" when it did).
func scanRecords(data []byte) (payloads []rawRecord, end int64, damage string) {
	if !bytes.HasPrefix(data, journalMagic) {
		if len(data) < len(journalMagic) && bytes.HasPrefix(journalMagic, data) {
			return nil, 0, fmt.Sprintf("journal ends inside its %d-byte signature", len(journalMagic))
		}
		return nil, 0, "not a cmrseg journal (bad signature)"
	}
	off := len(journalMagic)
	for off < len(data) {
		rest := data[off:]
		if len(rest) < 8 {
			return payloads, int64(off), fmt.Sprintf("torn record header at byte %d (%d bytes)", off, len(rest))
		}
		n := int(binary.LittleEndian.Uint32(rest))
		sum := binary.LittleEndian.Uint32(rest[4:])
		if n == 0 || n > maxRecord {
			return payloads, int64(off), fmt.Sprintf("bad record length %d at byte %d", n, off)
		}
		if len(rest)-8 < n {
			return payloads, int64(off), fmt.Sprintf("torn record at byte %d: %d of %d bytes", off, len(rest)-8, n)
		}
		p := rest[8 : 8+n]
		if crc32.ChecksumIEEE(p) != sum {
			return payloads, int64(off), fmt.Sprintf("checksum mismatch in record at byte %d", off)
		}
		payloads = append(payloads, rawRecord{p, int64(off)})
		off += 8 + n
	}
	return payloads, int64(off), ""
}

// openJournal opens or creates the journal at path for the given header.
// It returns the payloads of the records after the header, for replay, and
// warnings about anything it had to set aside. It fails only when the file
// cannot be read or written at all.
func openJournal(path string, h header) (*journal, []rawRecord, []string, error) {
	var warnings []string
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil, fmt.Errorf("session: reading journal %s: %w", path, err)
	}
	var records []rawRecord
	var end int64
	if len(data) > 0 {
		payloads, e, damage := scanRecords(data)
		switch {
		case len(payloads) == 0:
			// Not even a header survived (or the file is foreign): keep it
			// aside and start again.
			aside := setAside(path, data, "unreadable")
			warnings = append(warnings, fmt.Sprintf("journal %s: %s; kept as %s and started a new journal", path, damage, aside))
			data = nil
		case !bytes.Equal(payloads[0].payload, encodeHeader(h)):
			aside := setAside(path, data, "mismatch")
			warnings = append(warnings, fmt.Sprintf("journal %s belongs to another study or segmentation; kept as %s and started a new journal", path, aside))
			data = nil
		default:
			records, end = payloads[1:], e
			if damage != "" {
				aside := setAside(path, data[end:], "torn")
				warnings = append(warnings, fmt.Sprintf("journal %s: %s; ignored the last %d bytes (kept as %s)", path, damage, int64(len(data))-end, aside))
			}
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("session: opening journal %s: %w", path, err)
	}
	j := &journal{f: f, path: path, off: end}
	if len(data) == 0 {
		init := append(append([]byte(nil), journalMagic...), frame(encodeHeader(h))...)
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, nil, nil, fmt.Errorf("session: resetting journal %s: %w", path, err)
		}
		if err := j.writeAt(0, init); err != nil {
			f.Close()
			return nil, nil, nil, err
		}
		j.off = int64(len(init))
		syncDir(path)
	} else if int64(len(data)) != end {
		if err := f.Truncate(end); err != nil {
			f.Close()
			return nil, nil, nil, fmt.Errorf("session: cutting the torn end off journal %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, nil, nil, fmt.Errorf("session: syncing journal %s: %w", path, err)
		}
	}
	return j, records, warnings, nil
}

// setAside writes data beside path with a suffix saying why, so nothing the
// user made is ever destroyed; it returns the name used ("" on failure).
func setAside(path string, data []byte, why string) string {
	name := fmt.Sprintf("%s.%s-%d", path, why, time.Now().UnixNano())
	if err := atomicfile.Write(name, data); err != nil {
		return ""
	}
	return name
}

func (j *journal) writeAt(off int64, b []byte) error {
	if _, err := j.f.WriteAt(b, off); err != nil {
		return fmt.Errorf("session: writing journal %s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("session: syncing journal %s: %w", j.path, err)
	}
	return nil
}

// append writes one record durably. On failure it cuts the file back to the
// last good record, so a later append never lands behind garbage.
func (j *journal) append(payload []byte) error {
	if j.broken != nil {
		return j.broken
	}
	rec := frame(payload)
	if err := j.writeAt(j.off, rec); err != nil {
		if terr := j.f.Truncate(j.off); terr != nil {
			j.broken = fmt.Errorf("session: journal %s is damaged after a failed write (%v); edits are disabled", j.path, err)
		}
		return err
	}
	j.off += int64(len(rec))
	return nil
}

// cut truncates the journal at off (a record boundary), keeping the part cut
// off aside.
func (j *journal) cut(off int64) error {
	if data, err := os.ReadFile(j.path); err == nil && int64(len(data)) > off {
		setAside(j.path, data[off:], "unapplied")
	}
	if err := j.f.Truncate(off); err != nil {
		return fmt.Errorf("session: cutting journal %s: %w", j.path, err)
	}
	j.off = off
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("session: syncing journal %s: %w", j.path, err)
	}
	return nil
}

func (j *journal) close() error {
	if j == nil || j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

// Payload encoders and decoders.

func encodeEdit(c Change) []byte {
	b := []byte{recEdit, byte(c.Op)}
	b = binary.LittleEndian.AppendUint32(b, uint32(c.Phase))
	b = binary.LittleEndian.AppendUint32(b, uint32(c.Slice))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(c.Voxels)))
	for _, v := range c.Voxels {
		b = binary.LittleEndian.AppendUint32(b, uint32(v.Index))
		b = append(b, v.Old, v.New)
	}
	return b
}

func decodeEdit(p []byte) (Change, error) {
	if len(p) < 14 {
		return Change{}, fmt.Errorf("edit record of %d bytes", len(p))
	}
	c := Change{
		Op:    Op(p[1]),
		Phase: int(binary.LittleEndian.Uint32(p[2:])),
		Slice: int(binary.LittleEndian.Uint32(p[6:])),
	}
	n := int(binary.LittleEndian.Uint32(p[10:]))
	body := p[14:]
	if len(body) != 6*n {
		return Change{}, fmt.Errorf("edit record claims %d voxels in %d bytes", n, len(body))
	}
	c.Voxels = make([]Voxel, n)
	for k := range c.Voxels {
		q := body[6*k:]
		c.Voxels[k] = Voxel{Index: int(binary.LittleEndian.Uint32(q)), Old: q[4], New: q[5]}
	}
	return c, nil
}

func encodeAccept(phase, slice int, accepted bool) []byte {
	b := []byte{recAccept}
	b = binary.LittleEndian.AppendUint32(b, uint32(phase))
	b = binary.LittleEndian.AppendUint32(b, uint32(slice))
	return append(b, boolByte(accepted))
}

func decodeAccept(p []byte) (phase, slice int, accepted bool, err error) {
	if len(p) != 10 {
		return 0, 0, false, fmt.Errorf("accept record of %d bytes", len(p))
	}
	return int(binary.LittleEndian.Uint32(p[1:])), int(binary.LittleEndian.Uint32(p[5:])), p[9] == 1, nil
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// syncDir makes a file's creation or rename durable; not every filesystem
// supports syncing a directory, so failure is ignored.
func syncDir(path string) {
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
}
