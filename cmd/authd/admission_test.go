package main

import (
	"fmt"
	"sync"
	"testing"
)

// The target, through the real wiring: 20 simultaneous
// registrations of one email on two hashing workers are all served (one
// 201, the rest 400 email taken), none refused. A first registration seeds
// the pool's estimate of one hash, so the burst is admitted by the
// predicted-wait rule (20 hashes of a few ms each on two workers is far
// within AUTHD_HASH_MAX_WAIT), not by the empty estimate; the count bound
// the pool had before (4 x workers waiting) refused 10 of these. The cost
// is bcrypt's minimum, not the target's 10: the race detector makes a hash
// some ten times slower, and at cost 8 under -race the predicted wait of
// the last few passed 2 s (8 refused). The rule exercised is the same.
func TestRegistrationBurstIsAdmitted(t *testing.T) {
	for name, newDB := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in := start(t, map[string]string{
				"AUTHD_DATABASE_URL":  newDB(t),
				"AUTHD_BCRYPT_COST":   "4",
				"AUTHD_HASH_WORKERS":  "2",
				"AUTHD_HASH_MAX_WAIT": "2s",
				"AUTHD_RATE_LIMIT":    "off",
			})
			if r := in.do("POST", "/api/v1/auth/register", `{"email":"seed@example.com","password":"correct horse battery"}`); r.status != 201 {
				t.Fatalf("seed registration: %d %s", r.status, r.body)
			}
			const burst = 20
			statuses := make([]int, burst)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range burst {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					statuses[i] = in.do("POST", "/api/v1/auth/register", `{"email":"burst@example.com","password":"correct horse battery"}`).status
				}()
			}
			close(start)
			wg.Wait()
			count := map[int]int{}
			for _, s := range statuses {
				count[s]++
			}
			if count[201] != 1 || count[400] != burst-1 {
				t.Errorf("statuses %v, want one 201 and %d x 400 (none refused)", fmt.Sprint(count), burst-1)
			}
		})
	}
}
