package main

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc CPU times: 100 on every Linux
// architecture Go supports.
const clockTicks = 100

// cpuSample is CPU time used so far, in seconds: by the child, by this
// process (the load generator), and by the whole machine (busy and idle).
type cpuSample struct {
	at                      time.Time
	child, self, busy, idle float64
}

func sampleCPU(pid int) cpuSample {
	s := cpuSample{at: time.Now(), self: procCPU("/proc/self/stat")}
	if pid > 0 {
		s.child = procCPU("/proc/" + strconv.Itoa(pid) + "/stat")
	}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		s.busy, s.idle = machineCPU(string(b))
	}
	return s
}

// cpuUse is the average number of cores each party kept busy between two
// samples.
type cpuUse struct {
	Child float64 `json:"authd"`
	Self  float64 `json:"loadgen"`
	Idle  float64 `json:"idle"`
	// Other is every other busy core: PostgreSQL, and anything else
	// running on the machine (a noisy neighbour shows up here).
	Other float64 `json:"other"`
}

func (a cpuSample) until(b cpuSample) cpuUse {
	d := b.at.Sub(a.at).Seconds()
	if d <= 0 {
		return cpuUse{}
	}
	r := func(v float64) float64 { return float64(int(v/d*100+0.5)) / 100 }
	u := cpuUse{Child: r(b.child - a.child), Self: r(b.self - a.self), Idle: r(b.idle - a.idle)}
	u.Other = max(0, r((b.busy-a.busy)-(b.child-a.child)-(b.self-a.self)))
	return u
}

// procCPU is utime+stime of /proc/PID/stat, in seconds.
func procCPU(path string) float64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return statCPU(string(b))
}

// statCPU parses utime and stime (fields 14 and 15) of a /proc/PID/stat
// line; the command name (field 2) may hold spaces, so fields are counted
// after its closing parenthesis.
func statCPU(stat string) float64 {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state), so utime is f[11] and stime f[12].
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / clockTicks
}

// machineCPU reads the "cpu" line of /proc/stat: busy (user, nice,
// system, irq, softirq, steal) and idle (idle, iowait) seconds, all cores
// together.
func machineCPU(procStat string) (busy, idle float64) {
	line, _, _ := strings.Cut(procStat, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0
	}
	v := make([]float64, 8)
	for i := range v {
		v[i], _ = strconv.ParseFloat(f[i+1], 64)
	}
	busy = (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / clockTicks
	idle = (v[3] + v[4]) / clockTicks
	return busy, idle
}
