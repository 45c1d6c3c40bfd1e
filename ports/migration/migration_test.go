package migration

import (
	"errors"
	"testing"
	"testing/fstest"
)

func TestLatest(t *testing.T) {
	files := fstest.MapFS{
		"000001_a.up.sql": {}, "000001_a.down.sql": {},
		"000012_b.up.sql": {}, "000003_c.up.sql": {}, "README.md": {},
	}
	if n, err := Latest(files); n != 12 || err != nil {
		t.Errorf("Latest = %d, %v; want 12", n, err)
	}
	if _, err := Latest(fstest.MapFS{"x_a.up.sql": {}}); err == nil {
		t.Error("a file without a version number was accepted")
	}
	if _, err := Latest(fstest.MapFS{"000001_a.down.sql": {}}); err == nil {
		t.Error("no up migrations was accepted")
	}
}

func TestState(t *testing.T) {
	for _, tt := range []struct {
		version int
		dirty   bool
		err     error
		state   string
		ok      bool
	}{
		{5, false, nil, "ok", true},
		{6, false, nil, "ok", true}, // a newer schema: rolling update
		{4, false, nil, "pending", false},
		{-1, false, nil, "pending", false},
		{5, true, nil, "dirty", false},
		{0, false, errors.New("down"), "unknown", false},
	} {
		if state, ok := State(tt.version, tt.dirty, tt.err, 5); state != tt.state || ok != tt.ok {
			t.Errorf("State(%d, %v, %v) = %q, %v; want %q, %v", tt.version, tt.dirty, tt.err, state, ok, tt.state, tt.ok)
		}
	}
}
