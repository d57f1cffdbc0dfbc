package mastery

import (
	"math"
	"testing"
)

func TestBKTWorkedCase(t *testing.T) {
	p := BKT{L0: 0.827, T: 0.180, F: 0.0127, G: 0.266, S: 0.148}
	pk := p.Update(p.L0, true)
	if math.Abs(pk-0.938) > 0.0005 {
		t.Fatalf("after one correct answer: P(known) = %.4f, want about 0.938", pk)
	}
	pk = p.Update(pk, true)
	if math.Abs(pk-0.971) > 0.0005 {
		t.Fatalf("after two correct answers: P(known) = %.4f, want about 0.971", pk)
	}
}

func TestBKTValidate(t *testing.T) {
	for _, tc := range []struct {
		p    BKT
		want bool
	}{
		{BKT{L0: 0.3, T: 0.1, G: 0.2, S: 0.1}, true},
		{BKT{L0: 0.3, T: 0.1, G: 0.5, S: 0.1}, false},
		{BKT{L0: 0.3, T: 0.1, G: 0.2, S: 0.6}, false},
		{BKT{L0: 1.3, T: 0.1, G: 0.2, S: 0.1}, false},
		{BKT{L0: math.NaN(), T: 0.1, G: 0.2, S: 0.1}, false},
	} {
		if err := tc.p.Validate(); (err == nil) != tc.want {
			t.Errorf("%+v: Validate() = %v, want ok=%v", tc.p, err, tc.want)
		}
	}
}
