package aha

import (
	"testing"

	"cmrseg/app/phantom"
)

func BenchmarkAnalyzePhantom(b *testing.B) {
	s, labels, _ := phantom.Generate(phantom.Options{Seed: 1})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Analyze(s.Geometry, labels[0].Data); err != nil {
			b.Fatal(err)
		}
	}
}
