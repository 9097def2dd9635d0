package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/infradash/infradash/jobs"
	"github.com/infradash/infradash/queries"
	"github.com/infradash/infradash/sample"
)

// A sample's filesystems, interfaces and sensors are stored as positional rows, every value as it
// came: the integers past 2^53, the digits of a percentage, names that need escaping.
func TestTheDetailIsStoredInPositionalRowsWithEveryValue(t *testing.T) {
	f := setup(t)
	b := batch(0, 1)
	s := &b.Samples[0].System
	s.Filesystems = []sample.Filesystem{
		{Mountpoint: "/", Device: "/dev/vda", Fstype: "ext4", TotalBytes: 270553174016, UsedBytes: 17492168704,
			FreeBytes: 80301125632, UsedPercent: 17.8868794867469, InodesUsedPercent: 3.665870428085327},
		{Mountpoint: `/mnt/"odd" \name` + "\t", Device: "tank/data", Fstype: "zfs", TotalBytes: 1<<63 + 12345,
			UsedBytes: 1<<53 + 1, UsedPercent: 100, InodesUsedPercent: 1e-7},
	}
	s.Network.Interfaces = []sample.Interface{{Name: "eth0", RecvBytesPerSecond: 123456.5, SentBytesPerSecond: 1e21,
		RecvPacketsPerSecond: 120, SentPacketsPerSecond: 230, RecvErrorsPerSecond: 0.2, SentErrorsPerSecond: 0}}
	s.Temperatures = []sample.Temperature{{Sensor: "coretemp_package_id_0", Celsius: 45.5}, {Sensor: "nvme", Celsius: -3}}
	f.write(t, b, base.Add(time.Minute))

	var fss, ifs, temps []byte
	if err := f.pool.QueryRow(context.Background(), `SELECT filesystems, interfaces, temperatures FROM system_metrics_history
		WHERE host = 'web-1'`).Scan(&fss, &ifs, &temps); err != nil {
		t.Fatal(err)
	}
	rows := func(col string, raw []byte) [][]json.Number {
		t.Helper()
		var out [][]any
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&out); err != nil {
			t.Fatalf("%s %s: %v", col, raw, err)
		}
		nums := make([][]json.Number, len(out))
		for i, r := range out {
			for _, v := range r {
				switch v := v.(type) {
				case json.Number:
					nums[i] = append(nums[i], v)
				case string:
					nums[i] = append(nums[i], json.Number(v)) // the names, compared as text
				default:
					t.Fatalf("%s row %d holds %T %v", col, i, v, v)
				}
			}
		}
		return nums
	}
	u := func(n json.Number) uint64 {
		v, err := strconv.ParseUint(string(n), 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		return v
	}
	fl := func(n json.Number) float64 {
		v, err := n.Float64()
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		return v
	}
	var gotFS []sample.Filesystem
	for _, r := range rows("filesystems", fss) {
		if len(r) != 8 {
			t.Fatalf("a filesystem row has %d values, want 8: %v", len(r), r)
		}
		gotFS = append(gotFS, sample.Filesystem{Mountpoint: string(r[0]), Device: string(r[1]), Fstype: string(r[2]),
			TotalBytes: u(r[3]), UsedBytes: u(r[4]), FreeBytes: u(r[5]), UsedPercent: fl(r[6]), InodesUsedPercent: fl(r[7])})
	}
	if len(gotFS) != 2 || gotFS[0] != s.Filesystems[0] || gotFS[1] != s.Filesystems[1] {
		t.Errorf("filesystems stored as %s, read back %+v, want %+v", fss, gotFS, s.Filesystems)
	}
	var gotIf []sample.Interface
	for _, r := range rows("interfaces", ifs) {
		if len(r) != 7 {
			t.Fatalf("an interface row has %d values, want 7: %v", len(r), r)
		}
		gotIf = append(gotIf, sample.Interface{Name: string(r[0]), RecvBytesPerSecond: fl(r[1]), SentBytesPerSecond: fl(r[2]),
			RecvPacketsPerSecond: fl(r[3]), SentPacketsPerSecond: fl(r[4]), RecvErrorsPerSecond: fl(r[5]), SentErrorsPerSecond: fl(r[6])})
	}
	if len(gotIf) != 1 || gotIf[0] != s.Network.Interfaces[0] {
		t.Errorf("interfaces stored as %s, read back %+v, want %+v", ifs, gotIf, s.Network.Interfaces)
	}
	var gotT []sample.Temperature
	for _, r := range rows("temperatures", temps) {
		gotT = append(gotT, sample.Temperature{Sensor: string(r[0]), Celsius: fl(r[1])})
	}
	if len(gotT) != 2 || gotT[0] != s.Temperatures[0] || gotT[1] != s.Temperatures[1] {
		t.Errorf("temperatures stored as %s, read back %+v", temps, gotT)
	}
}

// The history written before migration 00016 (objects) and after it (positional rows) read the
// same: the disk chart, the alerts' means and the rollups.
func TestTheHistoryReadsTheDetailWrittenEitherWay(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	// Four samples through the store; four older ones as the version before wrote them.
	b := batch(10, 4)
	for i := range b.Samples {
		b.Samples[i].System.Filesystems[0].UsedPercent = 60
		b.Samples[i].System.Temperatures = []sample.Temperature{{Sensor: "cpu", Celsius: 70}, {Sensor: "nvme", Celsius: 40}}
	}
	f.write(t, b, base.Add(2*time.Minute))
	if _, err := f.pool.Exec(ctx, `INSERT INTO system_metrics_history (host, collected_at, cpu_percent, memory_percent, filesystems, temperatures)
		SELECT 'web-1', $1::timestamptz + i * interval '5 seconds', 10, 40,
		       '[{"mountpoint": "/", "device": "/dev/sda1", "fstype": "ext4", "used_percent": 40}]',
		       '[{"sensor": "cpu", "celsius": 50}]'
		FROM generate_series(0, 3) AS i`, base); err != nil {
		t.Fatal(err)
	}
	q := queries.New(f.pool)
	series, err := q.FilesystemSeries(ctx, queries.FilesystemSeriesParams{StepSeconds: 3600, Subject: "/", Host: "web-1",
		FromAt: base.Add(-time.Hour), ToAt: base.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 1 || series[0].SampleCount != 8 || series[0].MinValue != 40 || series[0].MaxValue != 60 || series[0].MeanValue != 50 {
		t.Errorf("the disk chart of / reads %+v, want 8 samples from 40 to 60 %%", series)
	}
	means, err := q.AlertWindowMeans(ctx, queries.AlertWindowMeansParams{Since: base.Add(-time.Hour), Until: base.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, m := range means {
		if (m.Metric == "disk" || m.Metric == "temperature") && m.Samples != 8 {
			t.Errorf("%s %s: %d samples, want 8", m.Metric, m.Subject, m.Samples)
		}
		got[m.Metric+" "+m.Subject] = m.MeanValue
	}
	// The hottest sensor of each sample: 50 before, 70 after.
	if got["disk /"] != 50 || got["temperature "] != 60 {
		t.Errorf("the alerts' means are %v, want disk / at 50 and temperature at 60", got)
	}
	if _, err := jobs.Aggregate(ctx, f.pool, jobs.FiveMinute, time.Hour, base.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	var n int64
	var mean float64
	if err := f.pool.QueryRow(ctx, `SELECT sample_count, mean_value FROM metric_aggregations
		WHERE host = 'web-1' AND metric = 'disk_percent' AND subject = '/'`).Scan(&n, &mean); err != nil {
		t.Fatalf("no rollup of / (%v)", err)
	}
	if n != 8 || mean != 50 {
		t.Errorf("the rollup of / holds %d samples with mean %v, want 8 and 50", n, mean)
	}
}
