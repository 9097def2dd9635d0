package store

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/infradash/infradash/sample"
)

// The history keeps a sample's filesystems, interfaces and sensors as jsonb arrays of positional
// rows: each one a JSON array of its values in a fixed order, not an object naming them. jsonb
// stores an object's keys in every object, and PostgreSQL compresses nothing in a row under 2 KB,
// so the names were half of a system row (docs/scaling.md, Bytes per sample). The orders, below,
// are also the columns' comments in the database (migration 00016); rows written before, as
// objects, stay until retention drops their day, and every reader takes both.
//
//	filesystems:  [mountpoint, device, fstype, total_bytes, used_bytes, free_bytes, used_percent, inodes_used_percent]
//	interfaces:   [name, recv_bytes_per_second, sent_bytes_per_second, recv_packets_per_second,
//	               sent_packets_per_second, recv_errors_per_second, sent_errors_per_second]
//	temperatures: [sensor, celsius]
func filesystemRows(fss []sample.Filesystem) []byte {
	return positional(fss, 96, func(b []byte, f sample.Filesystem) []byte {
		b = appendString(b, f.Mountpoint)
		b = appendString(append(b, ','), f.Device)
		b = appendString(append(b, ','), f.Fstype)
		b = appendUints(b, f.TotalBytes, f.UsedBytes, f.FreeBytes)
		return appendFloats(b, f.UsedPercent, f.InodesUsedPercent)
	})
}

func interfaceRows(ifs []sample.Interface) []byte {
	return positional(ifs, 80, func(b []byte, n sample.Interface) []byte {
		b = appendString(b, n.Name)
		return appendFloats(b, n.RecvBytesPerSecond, n.SentBytesPerSecond, n.RecvPacketsPerSecond,
			n.SentPacketsPerSecond, n.RecvErrorsPerSecond, n.SentErrorsPerSecond)
	})
}

func temperatureRows(ts []sample.Temperature) []byte {
	return positional(ts, 32, func(b []byte, t sample.Temperature) []byte {
		return appendFloats(appendString(b, t.Sensor), t.Celsius)
	})
}

// positional writes list as a JSON array of rows, each one's values appended by row; size is
// about a row's length, to allocate once.
func positional[T any](list []T, size int, row func([]byte, T) []byte) []byte {
	b := make([]byte, 0, 2+size*len(list))
	b = append(b, '[')
	for i, v := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(row(append(b, '['), v), ']')
	}
	return append(b, ']')
}

// appendUints and appendFloats append each value after a comma. JSON cannot say NaN or the
// infinities; sample.CheckSnapshot refuses most of them, and any other is stored as null (a
// reader's cast gives NULL, a value missing) rather than failing the whole group's transaction.
func appendUints(b []byte, vs ...uint64) []byte {
	for _, v := range vs {
		b = strconv.AppendUint(append(b, ','), v, 10)
	}
	return b
}

func appendFloats(b []byte, vs ...float64) []byte {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			b = append(b, ",null"...)
			continue
		}
		// 'g' keeps every digit Go has and writes 1e+21 rather than 21 zeros: valid JSON, which
		// jsonb stores as the same numeric.
		b = strconv.AppendFloat(append(b, ','), v, 'g', -1, 64)
	}
	return b
}

// appendString appends s as a JSON string. sample.CheckSnapshot has refused NUL, which jsonb
// cannot hold, and invalid UTF-8; should one slip past it, the replacement character keeps the
// JSON valid, as encoding/json does.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
