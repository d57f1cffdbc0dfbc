package simulate

import "testing"

// BenchmarkNext measures generation throughput: one op is one message.
func BenchmarkNext(b *testing.B) {
	for _, dist := range []Distribution{Uniform, Zipf} {
		b.Run(string(dist), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Learners, cfg.Items, cfg.Distribution = 100000, 2000, dist
			// 10M sessions over the default four weeks: about 2,000 sessions
			// in flight, and more than any benchmark run consumes.
			cfg.Sessions = 10_000_000
			g, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			var bytes int64
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				m, ok := g.Next()
				if !ok {
					b.Fatal("generator ran out")
				}
				bytes += int64(len(m.Value))
			}
			b.SetBytes(bytes / int64(b.N))
		})
	}
}

// BenchmarkAppendNext is the allocation-free form a load generator uses.
func BenchmarkAppendNext(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Learners, cfg.Items, cfg.Sessions = 100000, 2000, 10_000_000
	g, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 64<<10)
	var bytes int64
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if len(buf) > 60<<10 {
			buf = buf[:0] // the batch was sent
		}
		m, out, ok := g.AppendNext(buf)
		if !ok {
			b.Fatal("generator ran out")
		}
		buf = out
		bytes += int64(len(m.Value))
	}
	b.SetBytes(bytes / int64(b.N))
}
