package spool

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
)

// headerSize is the frame header: CRC-32C, data length, sequence number.
const headerSize = 16

// maxScan bounds how much of one segment file is read as records, so an offset fits the
// index's uint32. The writer never comes near it (segments are at most maxSegmentBytes plus
// one record); anything past it in a damaged file is treated like a corrupt tail.
const maxScan = 1<<32 - 1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendFrame appends the frame of one record to buf.
func appendFrame(buf []byte, seq uint64, data []byte) []byte {
	var h [headerSize]byte
	binary.LittleEndian.PutUint32(h[4:8], uint32(len(data)))
	binary.LittleEndian.PutUint64(h[8:16], seq)
	c := crc32.Update(0, castagnoli, h[4:])
	c = crc32.Update(c, castagnoli, data)
	binary.LittleEndian.PutUint32(h[0:4], c)
	return append(append(buf, h[:]...), data...)
}

// frameOK reports whether b is exactly one well-framed record with sequence number seq.
func frameOK(b []byte, seq uint64) bool {
	if len(b) < headerSize {
		return false
	}
	if int(binary.LittleEndian.Uint32(b[4:8])) != len(b)-headerSize || binary.LittleEndian.Uint64(b[8:16]) != seq {
		return false
	}
	return crc32.Checksum(b[4:], castagnoli) == binary.LittleEndian.Uint32(b[0:4])
}

// entry locates one record in its segment: 12 bytes of memory per record on disk.
type entry struct {
	delta uint32 // seq minus the segment's first seq
	off   uint32 // offset of the frame
	n     uint32 // data length
}

func (e entry) frameLen() int64 { return headerSize + int64(e.n) }

// scanned is what scanSegment found in one segment file.
type scanned struct {
	recs    []entry
	last    uint64 // seq of the last good record; first-1 when there is none
	end     int64  // where the last good record ends: everything after it is the tail
	regions int    // corrupt stretches skipped between good records
	skipped int64  // their bytes
	lost    uint64 // records they held, from the gaps in sequence numbers
	tail    int64  // bytes after end that are no record: a torn write, or rot at the very end
}

// scanSegment reads the records of one segment. A record is accepted only if its checksum is
// right, it fits in the file, and its sequence number follows the previous record's with no
// more missing numbers than could fit in the bytes skipped since (every frame takes at least
// headerSize bytes). That last rule is what makes resynchronising after a corrupt record safe:
// a stretch of garbage would have to carry a plausible sequence number and a matching CRC-32C.
// limit is the first sequence number of the next segment (records stay below it).
// Only read errors are returned; no content makes it fail.
func scanSegment(r io.ReaderAt, size int64, first, limit uint64) (scanned, error) {
	res := scanned{last: first - 1}
	if size > maxScan {
		res.tail = size - maxScan
		size = maxScan
	}
	w := &window{r: r, size: size, buf: make([]byte, 64<<10)}
	for off := int64(0); off < size; {
		seq, n, err := w.frameAt(off, res.last, res.end, limit)
		if err != nil {
			return res, err
		}
		if n == 0 {
			found := int64(-1)
			for o := off + 1; o+headerSize <= size; o++ {
				if seq, n, err = w.frameAt(o, res.last, res.end, limit); err != nil {
					return res, err
				}
				if n > 0 {
					found = o
					break
				}
			}
			if found < 0 {
				res.tail += size - off
				break
			}
			res.regions++
			res.skipped += found - off
			res.lost += seq - res.last - 1
			off = found
		}
		res.recs = append(res.recs, entry{delta: uint32(seq - first), off: uint32(off), n: uint32(n - headerSize)})
		res.last = seq
		off += n
		res.end = off
	}
	return res, nil
}

// window reads a file through one buffer, so that trying every offset while resynchronising
// costs no system call per offset.
type window struct {
	r     io.ReaderAt
	size  int64
	buf   []byte
	start int64
	n     int
}

func (w *window) at(off int64, n int) ([]byte, error) {
	if off >= w.start && off+int64(n) <= w.start+int64(w.n) {
		return w.buf[off-w.start:][:n], nil
	}
	m := int(min(int64(len(w.buf)), w.size-off))
	got, err := w.r.ReadAt(w.buf[:m], off)
	if got < m {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		w.n = 0
		return nil, fmt.Errorf("read at offset %d: %w", off, err)
	}
	w.start, w.n = off, m
	return w.buf[:n], nil
}

// frameAt returns the sequence number and frame length of the record at off, or n == 0 when
// there is no acceptable record there.
func (w *window) frameAt(off int64, prev uint64, end int64, limit uint64) (seq uint64, n int64, err error) {
	if w.size-off < headerSize {
		return 0, 0, nil
	}
	h, err := w.at(off, headerSize)
	if err != nil {
		return 0, 0, err
	}
	sum := binary.LittleEndian.Uint32(h[0:4])
	length := int64(binary.LittleEndian.Uint32(h[4:8]))
	seq = binary.LittleEndian.Uint64(h[8:16])
	if seq <= prev || seq >= limit || seq-prev-1 > uint64((off-end)/headerSize) {
		return 0, 0, nil
	}
	if length > w.size-off-headerSize {
		return 0, 0, nil
	}
	c := crc32.Update(0, castagnoli, h[4:16])
	for p, left := off+headerSize, length; left > 0; {
		k := min(left, int64(len(w.buf)))
		b, err := w.at(p, int(k))
		if err != nil {
			return 0, 0, err
		}
		c = crc32.Update(c, castagnoli, b)
		p += k
		left -= k
	}
	if c != sum {
		return 0, 0, nil
	}
	return seq, headerSize + length, nil
}

// The ack file is one line of text, "ack 4100 crc32c=1a2b3c4d\n", the checksum being CRC-32C
// of "ack 4100". Text, so an operator can read it with cat.
func formatAck(seq uint64) []byte {
	head := "ack " + strconv.FormatUint(seq, 10)
	return fmt.Appendf(nil, "%s crc32c=%08x\n", head, crc32.Checksum([]byte(head), castagnoli))
}

// parseAck accepts exactly what formatAck writes.
func parseAck(b []byte) (uint64, bool) {
	const prefix = "ack "
	if len(b) < len(prefix) || string(b[:len(prefix)]) != prefix {
		return 0, false
	}
	digits := b[len(prefix):]
	for i, c := range digits {
		if c < '0' || c > '9' {
			digits = digits[:i]
			break
		}
	}
	seq, err := strconv.ParseUint(string(digits), 10, 64)
	if err != nil || seq >= maxStart || string(formatAck(seq)) != string(b) {
		return 0, false
	}
	return seq, true
}
