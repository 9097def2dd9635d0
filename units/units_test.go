package units

import "testing"

func TestFormat(t *testing.T) {
	tests := []struct {
		v    float64
		u    Unit
		want string
	}{
		{42, Percent, "42 %"},
		{82.5, Percent, "82.5 %"}, // a threshold: never rounded to "83"
		{42.25, Percent, "42.2 %"},
		{90.04, Percent, "90 %"},
		{0, Percent, "0 %"},
		{-0.01, Percent, "0 %"},
		{950, BytesPerSec, "950 B/s"},
		{1_500, BytesPerSec, "1.5 kB/s"},
		{123_000_000, BytesPerSec, "123 MB/s"},
		{16_800_000_000, Bytes, "16.8 GB"},
		{271_000_000_000, Bytes, "271 GB"},
		{0.873, Load, "0.87"},
		{42, Seconds, "42s"},
		{72.4, Seconds, "1m 12s"},
		{5*3600 + 12*60 + 9, Seconds, "5h 12m"},
		{3*86400 + 4*3600, Seconds, "3d 4h"},
		{60, Seconds, "1m"},
		{2 * 86400, Seconds, "2d"},
	}
	for _, tt := range tests {
		if got := Format(tt.v, tt.u); got != tt.want {
			t.Errorf("Format(%v, %q) = %q, want %q", tt.v, tt.u, got, tt.want)
		}
	}
}
