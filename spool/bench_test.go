package spool

import (
	"bytes"
	"fmt"
	"testing"
)

// sample5KB stands for one sample as the agent spools it.
var sample5KB = bytes.Repeat([]byte("0123456789"), 500)

func BenchmarkAppend(b *testing.B) {
	for _, sync := range []bool{true, false} {
		b.Run(fmt.Sprintf("fsync=%v", sync), func(b *testing.B) {
			s := openT(b, b.TempDir(), Options{NoSync: !sync})
			b.SetBytes(int64(len(sample5KB)))
			for b.Loop() {
				if _, err := s.Append(sample5KB); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPeekAck is the sender's loop: a batch of 100 records of 5 KB, then its Ack (which
// saves the position, so with fsync it costs three of them).
func BenchmarkPeekAck(b *testing.B) {
	for _, sync := range []bool{true, false} {
		b.Run(fmt.Sprintf("fsync=%v", sync), func(b *testing.B) {
			s := openT(b, b.TempDir(), Options{NoSync: !sync})
			fill := func() {
				s.o.NoSync = true // filling is not what is measured
				for range 10_000 {
					if _, err := s.Append(sample5KB); err != nil {
						b.Fatal(err)
					}
				}
				s.o.NoSync = !sync
			}
			fill()
			for b.Loop() {
				recs, err := s.Peek(100, 1<<20)
				if err != nil {
					b.Fatal(err)
				}
				if len(recs) == 0 {
					b.StopTimer()
					fill()
					b.StartTimer()
					continue
				}
				if err := s.Ack(recs[len(recs)-1].Seq); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpen is the start after a crash with 10,000 records of 5 KB spooled (50 MB).
func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	s := openT(b, dir, Options{NoSync: true})
	for range 10_000 {
		if _, err := s.Append(sample5KB); err != nil {
			b.Fatal(err)
		}
	}
	closeT(b, s)
	for b.Loop() {
		s, err := Open(dir, Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		if st := s.Stats(); st.Records != 10_000 {
			b.Fatalf("stats %+v", st)
		}
		s.Close()
	}
}
