// Package units writes measured values for people. It is the one formatter of the project:
// the dashboard's cards, tables and charts, the notifications and the command line all write a
// value and its threshold through Format, so a number never reads "83%" in a notice and
// "82.5 %" on the chart. It imports nothing of the project, so any package may use it.
package units

import (
	"math"
	"strconv"
	"strings"
)

// Unit says what a value measures.
type Unit string

// Units.
const (
	Percent     Unit = "%"
	BytesPerSec Unit = "B/s"
	Bytes       Unit = "B"
	// Load is a load average (or load per core): a plain number.
	Load Unit = "load"
	// Celsius is a temperature.
	Celsius Unit = "°C"
	// Seconds is a length of time, written as people read one: "42s", "1m 12s", "5h", "3d 4h".
	Seconds Unit = "s"
)

// Format writes v in unit u: "42 %", "82.5 %", "1.2 MB/s", "3.2 GB", "0.87".
func Format(v float64, u Unit) string {
	switch u {
	case Percent:
		return decimal(v) + " %"
	case BytesPerSec:
		return byteCount(v) + "/s"
	case Bytes:
		return byteCount(v)
	case Seconds:
		return duration(v)
	case Celsius:
		return decimal(v) + " °C"
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// duration writes seconds in its two largest units, rounded to the second.
func duration(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	sec := int64(math.Round(math.Abs(v)))
	sign := ""
	if v < 0 && sec > 0 {
		sign = "-"
	}
	days, h, m, s := sec/86400, sec/3600%24, sec/60%60, sec%60
	two := func(a int64, au string, b int64, bu string) string {
		out := sign + strconv.FormatInt(a, 10) + au
		if b > 0 {
			out += " " + strconv.FormatInt(b, 10) + bu
		}
		return out
	}
	switch {
	case days > 0:
		return two(days, "d", h, "h")
	case h > 0:
		return two(h, "h", m, "m")
	case m > 0:
		return two(m, "m", s, "s")
	}
	return sign + strconv.FormatInt(s, 10) + "s"
}

// decimal is v to one decimal, without a trailing ".0": a threshold of 80 reads "80", a mean
// of 82.46 reads "82.5", and a value that rounds to a whole number reads as one.
func decimal(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	if s == "-0" {
		s = "0"
	}
	return s
}

// byteCount writes a byte count with a decimal prefix: 950 B, 1.5 kB, 12 MB, 3.2 GB.
func byteCount(v float64) string {
	prefixes := []string{"B", "kB", "MB", "GB", "TB", "PB"}
	i := 0
	for math.Abs(v) >= 1000 && i < len(prefixes)-1 {
		v /= 1000
		i++
	}
	if i == 0 || v >= 100 {
		return strconv.FormatFloat(v, 'f', 0, 64) + " " + prefixes[i]
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + prefixes[i]
}
