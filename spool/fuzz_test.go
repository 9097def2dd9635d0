package spool

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzOpen opens a spool folder made of arbitrary bytes: a first segment (named 1), a second
// one named 1+second (none when second is 0) and an ack file (none when empty). Open must
// neither fail nor panic; every record it returns must be a well-framed record of those
// bytes, in increasing order and after the ack position; the spool must go on working; and a
// second Open must find the same records and nothing torn. The seeds in testdata/fuzz/FuzzOpen
// (NUL bytes, truncated frames, huge lengths, zero-length records, nested frames, bad ack
// files) run in every go test.
func FuzzOpen(f *testing.F) {
	f.Fuzz(func(t *testing.T, seg1 []byte, second uint16, seg2 []byte, ack []byte) {
		dir := t.TempDir()
		write := func(name string, b []byte) {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		write(segmentName(1), seg1)
		secondFirst := uint64(maxSeq)
		if second > 0 {
			secondFirst = 1 + uint64(second)
			write(segmentName(secondFirst), seg2)
		}
		if len(ack) > 0 {
			write(ackName, ack)
		}
		acked, _ := parseAck(ack)
		o := Options{MaxBytes: 64 << 20, NoSync: true}

		s, err := Open(dir, o)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer s.Close()
		recs := peekAll(t, s)
		for i, r := range recs {
			if r.Seq <= acked {
				t.Fatalf("record %d returned although acknowledged up to %d", r.Seq, acked)
			}
			if i > 0 && r.Seq <= recs[i-1].Seq {
				t.Fatalf("record %d after record %d", r.Seq, recs[i-1].Seq)
			}
			src := seg1
			if r.Seq >= secondFirst {
				src = seg2
			}
			if !bytes.Contains(src, appendFrame(nil, r.Seq, r.Data)) {
				t.Fatalf("record %d (%d bytes) is not a frame of its segment", r.Seq, len(r.Data))
			}
		}
		st := s.Stats()
		if st.Records != len(recs) || st.Torn > 1 {
			t.Fatalf("stats %+v for %d records", st, len(recs))
		}

		seq, err := s.Append([]byte("after"))
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		if seq <= acked || len(recs) > 0 && seq <= recs[len(recs)-1].Seq {
			t.Fatalf("Append returned %d after records %v, acknowledged up to %d", seq, seqs(recs), acked)
		}
		recs = append(recs, Record{Seq: seq, Data: []byte("after")})
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}

		s, err = Open(dir, o)
		if err != nil {
			t.Fatalf("second Open: %v", err)
		}
		defer s.Close()
		again := peekAll(t, s)
		if !slices.EqualFunc(again, recs, func(a, b Record) bool { return a.Seq == b.Seq && bytes.Equal(a.Data, b.Data) }) {
			t.Fatalf("second Open found records %v, want %v", seqs(again), seqs(recs))
		}
		// Corrupt may fall: a damaged segment whose records were all acknowledged is deleted.
		if st2 := s.Stats(); st2.Torn != 0 || st2.Corrupt > st.Corrupt {
			t.Fatalf("second Open: stats %+v, first %+v", st2, st)
		}
	})
}
