package evaluation

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"cmrseg/inference/bundle"
)

func TestMethodNameAndFileSafe(t *testing.T) {
	if got := MethodName("/runs/acdc-1/bundle", "multi-modal"); got != "multi-modal (acdc-1)" {
		t.Errorf("a run's bundle is named after the run: %q", got)
	}
	if got := MethodName("/models/swa/", "swa"); got != "swa (swa)" {
		t.Errorf("%q", got)
	}
	if got := FileSafe("multi-modal (acdc 1)"); got != "multi-modal_acdc_1" {
		t.Errorf("%q", got)
	}
}

func TestLeakWarning(t *testing.T) {
	b := &bundle.Bundle{Dir: "/m"}
	b.Training.TrainCases = []string{"patient001", "patient002"}
	cases := []Case{{ID: "patient101"}, {ID: "patient002"}}
	if msg := leakWarning(b, cases); !strings.Contains(msg, "1 evaluation case(s)") || !strings.Contains(msg, "patient002") {
		t.Errorf("leak not reported: %q", msg)
	}
	if msg := leakWarning(b, cases[:1]); msg != "" {
		t.Errorf("no leak, got %q", msg)
	}
}

// JSON has no NaN: an undefined Dice (class absent in both) is null.
func TestJSONWritesNaNAsNull(t *testing.T) {
	m := MethodScore{Name: "x", Dice: [3]float64{math.NaN(), 0.5, 1}, AUROC: math.NaN(),
		Volumes: []VolumeScore{{Case: "c", Phase: 1, Dice: [3]float64{math.NaN(), 1, 1}, ECE: math.Inf(1)}}}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{`"dice":[null,0.5,1]`, `"failure_auroc":null`, `"ece_percent":null`, `"dice":[null,1,1]`} {
		if !strings.Contains(s, want) {
			t.Errorf("%s lacks %s", s, want)
		}
	}
}
