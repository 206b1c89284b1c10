package study

import "testing"

func TestAgeYears(t *testing.T) {
	for _, c := range []struct {
		age, birth, study string
		want              float64
	}{
		{"045Y", "", "", 45},
		{"018M", "", "", 1.5},
		{"", "19700615", "20100614", 39},
		{"", "19700615", "20100615", 40},
		{"", "19700615", "", 0},
		{"", "00000000", "20100615", 0},
		{"abcY", "19700615", "20100615", 40}, // bad PatientAge falls back to the dates
		{"", "20200101", "20100101", 0},      // born after the study
	} {
		if got := AgeYears(c.age, c.birth, c.study); got != c.want {
			t.Errorf("AgeYears(%q, %q, %q) = %v, want %v", c.age, c.birth, c.study, got, c.want)
		}
	}
	if NormalizeSex(" f") != "F" || NormalizeSex("O") != "" || NormalizeSex("M") != "M" {
		t.Error("NormalizeSex")
	}
}
