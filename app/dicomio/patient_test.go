package dicomio

import "testing"

// TestPatientSexAndAge: PatientSex and PatientAge reach the series'
// metadata (they choose the report's reference ranges); without
// PatientAge the age comes from PatientBirthDate and StudyDate.
func TestPatientSexAndAge(t *testing.T) {
	for _, c := range []struct {
		name  string
		extra []el
		sex   string
		age   float64
	}{
		{"age", []el{elStr(0x10, 0x40, "CS", "F"), elStr(0x10, 0x1010, "AS", "052Y")}, "F", 52},
		{"dates", []el{elStr(0x10, 0x40, "CS", "M"), elStr(0x10, 0x30, "DA", "19600301"), elStr(8, 0x20, "DA", "20100228")}, "M", 49},
		{"none", []el{elStr(0x10, 0x40, "CS", "O")}, "", 0},
	} {
		st, err := Open(writeFiles(t, map[string][]byte{"a.dcm": mrImage(img{number: 1, trigger: -1, extra: c.extra})}))
		if err != nil {
			t.Fatal(err)
		}
		m := st.Series[0].Meta
		if m.Sex != c.sex || m.AgeYears != c.age {
			t.Errorf("%s: sex %q age %v, want %q %v", c.name, m.Sex, m.AgeYears, c.sex, c.age)
		}
	}
}
