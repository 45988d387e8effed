package chaos

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// Report collects each fault's recovery time and violations.
type Report struct {
	mu    sync.Mutex
	order []string
	rows  map[string]*reportRow
}

type reportRow struct {
	recoveries []time.Duration
	violations int
}

// NewReport is an empty report.
func NewReport() *Report { return &Report{rows: map[string]*reportRow{}} }

// Add records one fault run.
func (r *Report) Add(fault string, recovery time.Duration, violations int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	row := r.rows[fault]
	if row == nil {
		row = &reportRow{}
		r.rows[fault] = row
		r.order = append(r.order, fault)
	}
	row.recoveries = append(row.recoveries, recovery)
	row.violations += violations
}

// Totals is the number of faults run and of violations found.
func (r *Report) Totals() (faults, violations int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, row := range r.rows {
		faults += len(row.recoveries)
		violations += row.violations
	}
	return faults, violations
}

// Table renders: fault, count, recovery median and max, violations.
func (r *Report) Table() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "fault\tcount\trecovery median\trecovery max\tviolations\t")
	faults, violations := 0, 0
	for _, name := range r.order {
		row := r.rows[name]
		d := slices.Clone(row.recoveries)
		slices.Sort(d)
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%d\t\n", name, len(d), d[len(d)/2].Round(time.Millisecond), d[len(d)-1].Round(time.Millisecond), row.violations)
		faults += len(d)
		violations += row.violations
	}
	fmt.Fprintf(w, "total\t%d\t\t\t%d\t\n", faults, violations)
	w.Flush()
	return b.String()
}
