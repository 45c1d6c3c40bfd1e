package main

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// ceiling is the bcrypt reference: how many comparisons per second this
// machine can do at a cost with every core busy. No login or registration
// can be served faster, whatever the code around it.
type ceiling struct {
	When        string  `json:"when"`
	Cost        int     `json:"cost"`
	Cores       int     `json:"cores"`
	Comparisons int     `json:"comparisons"`
	Seconds     float64 `json:"seconds"`
	// PerOpMs is one comparison's time on one core while all cores
	// compare: cores x elapsed / comparisons.
	PerOpMs float64 `json:"per_op_ms"`
	// RPS is cores / PerOp.
	RPS float64 `json:"rps"`
	// CPUPerOpMs is one comparison's CPU time (this process's utime +
	// stime over the comparisons), which other load on the machine does
	// not inflate as it does PerOpMs.
	CPUPerOpMs float64 `json:"cpu_per_op_ms"`
}

// measureCeiling runs GOMAXPROCS goroutines comparing a correct password
// against a hash of cost for d, waits for the comparisons in progress,
// and divides.
func measureCeiling(cost int, d time.Duration) (ceiling, error) {
	const pw = "Bench-ceiling-9f3Kq"
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		return ceiling{}, err
	}
	procs := runtime.GOMAXPROCS(0)
	var stop atomic.Bool
	var n atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	cpu0 := procCPU("/proc/self/stat")
	for range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if err := bcrypt.CompareHashAndPassword(hash, []byte(pw)); err != nil {
					panic(err)
				}
				n.Add(1)
			}
		}()
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(start)
	cpu := procCPU("/proc/self/stat") - cpu0
	c := ceiling{Cost: cost, Cores: procs, Comparisons: int(n.Load()), Seconds: elapsed.Seconds()}
	if c.Comparisons > 0 {
		perOp := elapsed.Seconds() * float64(procs) / float64(c.Comparisons)
		c.PerOpMs = perOp * 1000
		c.RPS = float64(procs) / perOp
		c.CPUPerOpMs = cpu * 1000 / float64(c.Comparisons)
	}
	return c, nil
}
