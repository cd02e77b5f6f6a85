package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// metrics is one scrape of the gateway's /metrics: every series, keyed by
// its name with labels exactly as written (name{a="x",b="y"}).
type metrics map[string]float64

// httpClient's deadline is generous: on a machine whose cores are shared
// with other work the gateway can go unscheduled for seconds.
var httpClient = &http.Client{Timeout: 30 * time.Second}

func scrape(admin string) (metrics, []byte, error) {
	resp, err := httpClient.Get("http://" + admin + "/metrics")
	if err != nil {
		return nil, nil, fmt.Errorf("scrape: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("scrape: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("scrape: %s", resp.Status)
	}
	m := metrics{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m, body, sc.Err()
}

// sum adds every series of name whose labels contain each of the
// label="value" pairs given.
func (m metrics) sum(name string, labels ...string) float64 {
	var s float64
	for k, v := range m {
		if k != name && !strings.HasPrefix(k, name+"{") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(k, l)
		}
		if ok {
			s += v
		}
	}
	return s
}

// matching lists the series of name with a non-zero value, for reports.
func (m metrics) matching(name string) []string {
	var out []string
	for k, v := range m {
		if (k == name || strings.HasPrefix(k, name+"{")) && v != 0 {
			out = append(out, fmt.Sprintf("%s %g", k, v))
		}
	}
	return out
}

// procStatusKiB reads one kB field (VmRSS, VmHWM) of /proc/PID/status.
func procStatusKiB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, field)
}

func openFiles(pid int) (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents), err
}

// clkTck is USER_HZ, which Linux fixes at 100 for /proc on every
// architecture Go runs on.
const clkTck = 100

// cpuSeconds is the process's utime+stime, all threads.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	// Fields after the parenthesised command name start with the state
	// (field 3); utime and stime are fields 14 and 15.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime/stime", pid)
	}
	return float64(u+st) / clkTck, nil
}

// trend is what the report says of one sampled quantity after warm-up.
type trend struct {
	N             int     `json:"samples"`
	SlopePerHour  float64 `json:"slope_per_hour"`
	Min           float64 `json:"min"`
	Max           float64 `json:"max"`
	Mean          float64 `json:"mean"`
	RelSlopePerHr float64 `json:"slope_per_hour_of_mean"` // slope / mean
}

// fit is the least-squares line through (t hours, y): its slope per hour,
// with the range of y.
func fit(t, y []float64) trend {
	t, y = finite(t, y)
	if len(y) == 0 {
		return trend{}
	}
	r := trend{N: len(y), Min: math.Inf(1), Max: math.Inf(-1)}
	var st, sy float64
	for i := range y {
		st += t[i]
		sy += y[i]
		r.Min = min(r.Min, y[i])
		r.Max = max(r.Max, y[i])
	}
	n := float64(len(y))
	mt, my := st/n, sy/n
	var sxy, sxx float64
	for i := range y {
		sxy += (t[i] - mt) * (y[i] - my)
		sxx += (t[i] - mt) * (t[i] - mt)
	}
	if sxx > 0 {
		r.SlopePerHour = sxy / sxx
	}
	r.Mean = my
	if my != 0 {
		r.RelSlopePerHr = r.SlopePerHour / my
	}
	return r
}

// finite drops the points whose y is NaN (a sample whose scrape failed).
func finite(t, y []float64) ([]float64, []float64) {
	var ft, fy []float64
	for i := range y {
		if !math.IsNaN(y[i]) {
			ft, fy = append(ft, t[i]), append(fy, y[i])
		}
	}
	return ft, fy
}
