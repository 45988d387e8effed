package main

import (
	"slices"
	"testing"
)

func TestSysmonPollingEnvAddsTheSettingOnce(t *testing.T) {
	cases := []struct {
		name string
		env  []string
		want string // the GODEBUG entry of the result; "" when unchanged
	}{
		{"no GODEBUG", []string{"PATH=/bin"}, "GODEBUG=" + sysmonPollingSetting},
		{"operator settings kept first", []string{"GODEBUG=gctrace=1", "PATH=/bin"}, "GODEBUG=gctrace=1," + sysmonPollingSetting},
		{"empty GODEBUG", []string{"GODEBUG="}, "GODEBUG=" + sysmonPollingSetting},
		{"already re-executed", []string{"GODEBUG=gctrace=1," + sysmonPollingSetting}, ""},
		{"operator's own schedtrace", []string{"GODEBUG=schedtrace=1000"}, ""},
		{"schedtrace among others", []string{"GODEBUG=madvdontneed=1, schedtrace=5"}, ""},
	}
	for _, tc := range cases {
		got, changed := sysmonPollingEnv(tc.env)
		if changed != (tc.want != "") {
			t.Fatalf("%s: changed %v, want %v", tc.name, changed, tc.want != "")
		}
		if !changed {
			if !slices.Equal(got, tc.env) {
				t.Fatalf("%s: env changed to %q", tc.name, got)
			}
			continue
		}
		var godebug []string
		for _, kv := range got {
			if len(kv) >= 8 && kv[:8] == "GODEBUG=" {
				godebug = append(godebug, kv)
			}
		}
		if len(godebug) != 1 || godebug[0] != tc.want {
			t.Fatalf("%s: GODEBUG entries %q, want [%q]", tc.name, godebug, tc.want)
		}
		if again, changed := sysmonPollingEnv(got); changed || !slices.Equal(again, got) {
			t.Fatalf("%s: a second pass changed %q to %q", tc.name, got, again)
		}
	}
}
