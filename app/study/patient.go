package study

import (
	"strconv"
	"strings"
	"time"
)

// NormalizeSex maps DICOM PatientSex to "M" or "F"; anything else (O,
// empty, free text) is unknown, "".
func NormalizeSex(v string) string {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "M", "MALE":
		return "M"
	case "F", "FEMALE":
		return "F"
	}
	return ""
}

// AgeYears is the patient's age at the study in years from DICOM
// PatientAge ("nnnY", "nnnM", "nnnW", "nnnD"), or else from PatientBirthDate
// and StudyDate (YYYYMMDD); 0 when neither gives a plausible age.
func AgeYears(patientAge, birthDate, studyDate string) float64 {
	a := strings.TrimSpace(patientAge)
	if len(a) >= 2 {
		n, err := strconv.Atoi(a[:len(a)-1])
		if err == nil && n >= 0 {
			var y float64
			switch a[len(a)-1] {
			case 'Y', 'y':
				y = float64(n)
			case 'M', 'm':
				y = float64(n) / 12
			case 'W', 'w':
				y = float64(n) * 7 / 365.25
			case 'D', 'd':
				y = float64(n) / 365.25
			}
			if y > 0 && y < 130 {
				return y
			}
		}
	}
	b, err1 := time.Parse("20060102", strings.TrimSpace(birthDate))
	s, err2 := time.Parse("20060102", strings.TrimSpace(studyDate))
	if err1 != nil || err2 != nil || !s.After(b) {
		return 0
	}
	// Whole years completed, as a birthday-based age is stated.
	y := s.Year() - b.Year()
	if s.Month() < b.Month() || (s.Month() == b.Month() && s.Day() < b.Day()) {
		y--
	}
	if y < 0 || y >= 130 {
		return 0
	}
	return float64(y)
}
