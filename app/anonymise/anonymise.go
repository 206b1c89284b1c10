// Package anonymise de-identifies DICOM files following PS3.15 Annex E,
// the Basic Application Level Confidentiality Profile with the Retain
// Longitudinal Temporal Information with Modified Dates Option: names, IDs,
// addresses and the other attributes of Table E.1-1 are removed or
// replaced, private attributes, curves and overlay data removed, every date
// shifted by a whole number of days that is the same for all files of a
// patient (times kept, so intervals survive), and every instance UID
// replaced by one derived from it with a keyed hash, so references between
// files (a SEG to its images, images to their series and study) still hold
// after the export.
//
// The key is secret: random per Anonymiser unless the caller supplies one
// (to keep the same pseudonyms across exports); it is never written out.
package anonymise

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Implementation identity written into the file meta group of every
// anonymised file (the writer of the file, PS3.10 7.1). The root is the
// same UID as the SEG writer uses.
const (
	ImplementationClassUID  = "2.25.275056789233549250882824835953288103653" // cmrseg's, as in app/dicomseg
	ImplementationVersion   = "CMRSEG_ANON"
	MethodDescription       = "PS3.15 E Basic Profile, Rtn Long Modif Dates Opt (cmrseg)" // LO: at most 64
	minKeyBytes             = 16
	minShiftDays, spanShift = 365, 3650
)

// ErrBurnedIn is returned for an image whose BurnedInAnnotation is YES:
// the Basic Profile requires removing such text from the pixels, which
// this package does not do, so it refuses the file.
var ErrBurnedIn = errors.New("BurnedInAnnotation is YES: the pixels carry burned-in text (names, dates) that this export cannot remove; refused")

// Anonymiser holds the secret key of one export. Use one Anonymiser for
// all files that must stay consistent with each other (a study and its
// SEG objects).
type Anonymiser struct {
	key []byte
}

// New returns an Anonymiser. key nil draws a random 32-byte key that lives
// only in memory; a supplied key must have at least 16 bytes.
func New(key []byte) (*Anonymiser, error) {
	if key == nil {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("anonymise: random key: %w", err)
		}
	} else if len(key) < minKeyBytes {
		return nil, fmt.Errorf("anonymise: key of %d bytes is too short (at least %d)", len(key), minKeyBytes)
	}
	return &Anonymiser{key: append([]byte(nil), key...)}, nil
}

func (a *Anonymiser) mac(kind, v string) []byte {
	h := hmac.New(sha256.New, a.key)
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write([]byte(v))
	return h.Sum(nil)
}

// UID maps an instance UID to its replacement: "2.25." and a 128-bit
// number from the keyed hash (PS3.5 B.2 form), the same for the same
// source UID and key. An empty UID stays empty.
func (a *Anonymiser) UID(uid string) string {
	uid = strings.TrimRight(uid, " \x00")
	if uid == "" {
		return ""
	}
	sum := a.mac("uid", uid)[:16]
	return "2.25." + new(big.Int).SetBytes(sum).String()
}

// Pseudonym replaces a patient's name and ID: "ANON" and 10 hex digits of
// the keyed hash of the patient's ID (or name when there is no ID).
func (a *Anonymiser) Pseudonym(patient string) string {
	return "ANON" + strings.ToUpper(hex.EncodeToString(a.mac("patient", patient)[:5]))
}

// DayShift is the number of days every date of the patient moves: between
// 1 and 11 years back, fixed by the key and the patient.
func (a *Anonymiser) DayShift(patient string) int {
	v := binary.BigEndian.Uint32(a.mac("date", patient))
	return -(minShiftDays + int(v%spanShift))
}

// ShiftDA moves a DA value (YYYYMMDD, several values joined with '\') by
// days. ok is false when a value is not a full calendar date (partial or
// placeholder dates such as 20120000 cannot be shifted and must go).
func ShiftDA(v string, days int) (string, bool) {
	v = strings.TrimRight(v, " \x00")
	if v == "" {
		return "", true
	}
	parts := strings.Split(v, `\`)
	for i, p := range parts {
		d, err := time.Parse("20060102", strings.TrimSpace(p))
		if err != nil {
			return "", false
		}
		parts[i] = d.AddDate(0, 0, days).Format("20060102")
	}
	return strings.Join(parts, `\`), true
}

// ShiftDT moves the date part of a DT value (YYYYMMDDHHMMSS.FFFFFF&ZZXX);
// the time of day and the offset stay. ok is false without a full date.
func ShiftDT(v string, days int) (string, bool) {
	v = strings.TrimRight(v, " \x00")
	if v == "" {
		return "", true
	}
	parts := strings.Split(v, `\`)
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if len(p) < 8 {
			return "", false
		}
		d, ok := ShiftDA(p[:8], days)
		if !ok {
			return "", false
		}
		parts[i] = d + p[8:]
	}
	return strings.Join(parts, `\`), true
}

// Report counts what File did to one file.
type Report struct {
	Removed, Emptied, Dummied int // attributes removed (X), emptied (Z), given dummy values (D)
	UIDs                      int // UID values replaced
	Dates                     int // DA/DT values shifted
	DatesDropped              int // DA/DT values that were not full dates and were emptied
	Private                   int // private attributes removed
	Warnings                  []string
}

func (r *Report) add(o *Report) {
	r.Removed += o.Removed
	r.Emptied += o.Emptied
	r.Dummied += o.Dummied
	r.UIDs += o.UIDs
	r.Dates += o.Dates
	r.DatesDropped += o.DatesDropped
	r.Private += o.Private
	r.Warnings = append(r.Warnings, o.Warnings...)
}

// Attribute tags used outside the table.
const (
	tPatientName     = 0x00100010
	tPatientID       = 0x00100020
	tSOPClass        = 0x00080016
	tBurnedIn        = 0x00280301
	tIdentityRemoved = 0x00120062
	tDeidMethod      = 0x00120063
	tDeidCodes       = 0x00120064
	tLongitudinal    = 0x00280303
	tTransferSyntax  = 0x00020010
	tImplClass       = 0x00020012
	tImplVersion     = 0x00020013
)

// secondaryCapture SOP classes may carry burned-in text without saying
// so; a missing BurnedInAnnotation there is worth a warning.
func secondaryCapture(class string) bool {
	return strings.HasPrefix(class, "1.2.840.10008.5.1.4.1.1.7")
}

// File de-identifies one DICOM Part 10 file held in data and returns the
// new file. The input is not changed.
func (a *Anonymiser) File(data []byte) ([]byte, *Report, error) {
	f, err := parseFile(data)
	if err != nil {
		return nil, nil, err
	}
	rep := &Report{}
	if e := find(f.dataset, tBurnedIn); e != nil && strings.EqualFold(strings.TrimSpace(e.text()), "YES") {
		return nil, nil, ErrBurnedIn
	}
	class := ""
	if e := find(f.dataset, tSOPClass); e != nil {
		class = e.text()
	}
	if find(f.dataset, tBurnedIn) == nil && secondaryCapture(class) {
		rep.Warnings = append(rep.Warnings, "secondary capture without BurnedInAnnotation: check the pixels for burned-in text")
	}
	patient := ""
	if e := find(f.dataset, tPatientID); e != nil {
		patient = e.text()
	}
	if patient == "" {
		if e := find(f.dataset, tPatientName); e != nil {
			patient = e.text()
		}
	}
	c := &cleaner{a: a, days: a.DayShift(patient), pseudonym: a.Pseudonym(patient), rep: rep}
	ds, err := c.items(f.dataset, 0)
	if err != nil {
		return nil, nil, err
	}
	// The de-identification record (PS3.3 C.7.1.1, PS3.15 E.1.1).
	ds = set(ds, tIdentityRemoved, "CS", "YES")
	ds = set(ds, tDeidMethod, "LO", MethodDescription)
	ds = set(ds, tLongitudinal, "CS", "MODIFIED")
	codes := &element{tag: tDeidCodes, vr: "SQ"}
	for _, cd := range [][3]string{
		{"113100", "DCM", "Basic Application Confidentiality Profile"},
		{"113107", "DCM", "Retain Longitudinal Temporal Information Modified Dates Option"},
	} {
		codes.items = append(codes.items, []*element{
			{tag: 0x00080100, vr: "SH", value: []byte(cd[0])},
			{tag: 0x00080102, vr: "SH", value: []byte(cd[1])},
			{tag: 0x00080104, vr: "LO", value: []byte(cd[2])},
		})
	}
	if old := find(ds, tDeidCodes); old != nil {
		*old = *codes
	} else {
		ds = append(ds, codes)
	}
	f.dataset = ds
	// File meta: the same rules (media storage UID replaced, AE titles
	// removed), and this program as the implementation that wrote it.
	meta, err := c.items(f.meta, 0)
	if err != nil {
		return nil, nil, err
	}
	var kept []*element
	for _, e := range meta {
		if e.elemNo() >= 0x0100 { // private information of the previous writer
			continue
		}
		kept = append(kept, e)
	}
	kept = set(kept, tImplClass, "UI", ImplementationClassUID)
	kept = set(kept, tImplVersion, "SH", ImplementationVersion)
	f.meta = kept
	out, err := f.encode()
	if err != nil {
		return nil, nil, err
	}
	return out, rep, nil
}

// cleaner applies the table to one file's elements.
type cleaner struct {
	a         *Anonymiser
	days      int
	pseudonym string
	rep       *Report
}

// action decides what happens to e (table row, then the general rules).
func (c *cleaner) action(e *element) resolved {
	g := e.group()
	switch {
	case e.elemNo() == 0x0000 && g != 0x0002:
		return actRemove // group lengths would be wrong after the changes
	case e.private():
		c.rep.Private++
		return actRemove
	case g >= 0x5000 && g <= 0x50FF:
		return actRemove // curve data (E.1-1: 50xx,xxxx X)
	case g >= 0x6000 && g <= 0x60FF && (e.elemNo() == 0x3000 || e.elemNo() == 0x4000):
		return actRemove // overlay data and comments (E.1-1: 60xx,3000 and 60xx,4000 X)
	}
	if r, ok := byTag[e.tag]; ok {
		return r.Resolve()
	}
	if g == 0x0002 {
		// The file meta group is the reader's: a value there is never a
		// date to clean, whatever VR a file claims for it (a fuzzed file
		// gave Transfer Syntax UID the VR DA, and cleaning emptied it).
		return actKeep
	}
	switch e.vr {
	case "DA", "DT":
		return actClean // any other date moves too, so no real date survives
	case "SQ":
		return actRecurse
	}
	return actKeep
}

func (c *cleaner) items(es []*element, depth int) ([]*element, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("sequences nested more than %d deep", maxDepth)
	}
	var out []*element
	for _, e := range es {
		keep, err := c.element(e, depth)
		if err != nil {
			return nil, err
		}
		if keep != nil {
			out = append(out, keep)
		}
	}
	return out, nil
}

// element returns the cleaned copy of e, or nil to drop it.
func (c *cleaner) element(e *element, depth int) (*element, error) {
	n := *e
	act := c.action(e)
	if e.tag == tPatientName || e.tag == tPatientID {
		// Z allows "a dummy value consistent with the VR": the pseudonym
		// keeps the files of one patient together.
		n.value = []byte(c.pseudonym)
		c.rep.Dummied++
		return &n, nil
	}
	switch act {
	case actRemove:
		if !e.private() && e.elemNo() != 0 {
			c.rep.Removed++
		}
		return nil, nil
	case actZero:
		n.value, n.items = nil, nil
		c.rep.Emptied++
		return &n, nil
	case actDummy:
		c.rep.Dummied++
		switch e.vr {
		case "SQ":
			return c.recurse(&n, depth)
		case "UI":
			return c.uids(&n), nil
		case "DA", "DT":
			return c.dates(&n), nil
		case "PN", "LO", "SH", "LT", "ST", "UT", "UC", "CS", "AE":
			n.value = []byte("ANONYMOUS")
			if e.vr == "CS" || e.vr == "AE" {
				n.value = []byte("ANON")
			}
			return &n, nil
		}
		n.value = nil
		return &n, nil
	case actClean:
		switch e.vr {
		case "DA", "DT":
			return c.dates(&n), nil
		case "SQ":
			return c.recurse(&n, depth)
		}
		return &n, nil // times: kept (whole-day shifts leave them right)
	case actUID:
		return c.uids(&n), nil
	case actRecurse, actKeep:
		if e.vr == "SQ" {
			return c.recurse(&n, depth)
		}
		return &n, nil
	}
	return nil, fmt.Errorf("element %s: unknown action %c", e, act)
}

func (c *cleaner) recurse(n *element, depth int) (*element, error) {
	items := make([][]*element, 0, len(n.items))
	for _, it := range n.items {
		ci, err := c.items(it, depth+1)
		if err != nil {
			return nil, err
		}
		items = append(items, ci)
	}
	n.items = items
	return n, nil
}

func (c *cleaner) uids(n *element) *element {
	vs := strings.Split(n.text(), `\`)
	for i, v := range vs {
		if v != "" {
			vs[i] = c.a.UID(v)
			c.rep.UIDs++
		}
	}
	n.value = []byte(strings.Join(vs, `\`))
	return n
}

func (c *cleaner) dates(n *element) *element {
	var v string
	var ok bool
	if n.vr == "DT" {
		v, ok = ShiftDT(n.text(), c.days)
	} else {
		v, ok = ShiftDA(n.text(), c.days)
	}
	switch {
	case !ok:
		c.rep.DatesDropped++
	case v != "":
		c.rep.Dates++
	}
	n.value = []byte(v)
	return n
}

// Fields reads the values of the given top-level attributes of a DICOM
// file (text VRs), for tests and summaries; missing ones are absent.
func Fields(data []byte, tags ...uint32) (map[uint32]string, error) {
	f, err := parseFile(data)
	if err != nil {
		return nil, err
	}
	out := map[uint32]string{}
	for _, t := range tags {
		if e := find(append(f.meta, f.dataset...), t); e != nil {
			out[t] = e.text()
		}
	}
	return out, nil
}

// Walk calls fn for every element of a DICOM file, meta group and
// sequence items included (depth 0 at the top), with its tag, VR and raw
// value (nil for sequences, the fragments for encapsulated pixel data).
func Walk(data []byte, fn func(tag uint32, vr string, value []byte, depth int)) error {
	f, err := parseFile(data)
	if err != nil {
		return err
	}
	var walk func(es []*element, depth int)
	walk = func(es []*element, depth int) {
		for _, e := range es {
			if e.vr == "SQ" && !e.encapsulated {
				fn(e.tag, e.vr, nil, depth)
				for _, it := range e.items {
					walk(it, depth+1)
				}
				continue
			}
			fn(e.tag, e.vr, e.value, depth)
		}
	}
	walk(f.meta, 0)
	walk(f.dataset, 0)
	return nil
}

// isDICOM reports whether data looks like a Part 10 file.
func isDICOM(data []byte) bool {
	return len(data) >= 132 && bytes.Equal(data[128:132], []byte("DICM"))
}
