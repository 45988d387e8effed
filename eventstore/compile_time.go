package eventstore

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

var (
	compactDuration = regexp.MustCompile(`^(\d{1,4})(s|sec|secs|m|min|mins|h|hr|hrs|d|w)$`)
	clockTime       = regexp.MustCompile(`^(\d{1,2}):(\d{2})$`)
	meridiemTime    = regexp.MustCompile(`^(\d{1,2})(?::(\d{2}))?(am|pm)$`)
)

var numberWords = map[string]int{
	"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
	"eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
	"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "couple": 2, "few": 3,
}

var unitWords = map[string]time.Duration{
	"second": time.Second, "seconds": time.Second, "sec": time.Second, "secs": time.Second, "s": time.Second,
	"minute": time.Minute, "minutes": time.Minute, "min": time.Minute, "mins": time.Minute, "m": time.Minute,
	"hour": time.Hour, "hours": time.Hour, "hr": time.Hour, "hrs": time.Hour, "h": time.Hour,
	"day": 24 * time.Hour, "days": 24 * time.Hour, "d": 24 * time.Hour,
	"week": 7 * 24 * time.Hour, "weeks": 7 * 24 * time.Hour, "w": 7 * 24 * time.Hour,
	"month": 30 * 24 * time.Hour, "months": 30 * 24 * time.Hour,
}

var weekdays = map[string]time.Weekday{
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
}

var months = map[string]time.Month{
	"january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4,
	"may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9,
	"sep": 9, "sept": 9, "october": 10, "oct": 10, "november": 11, "nov": 11, "december": 12, "dec": 12,
}

// maxLookback bounds relative times (about 10 years) so huge numbers cannot overflow.
const maxLookback = 10 * 366 * 24 * time.Hour

// number parses a count word or digits.
func number(w string) (int, bool) {
	if n, ok := numberWords[w]; ok {
		return n, true
	}
	if len(w) > 0 && len(w) <= 6 {
		if n, err := strconv.Atoi(w); err == nil && n > 0 {
			return n, true
		}
	}
	return 0, false
}

// span multiplies a unit, bounded by maxLookback.
func span(n int, unit time.Duration) time.Duration {
	if n <= 0 {
		return 0
	}
	if time.Duration(n) > maxLookback/unit {
		return maxLookback
	}
	return time.Duration(n) * unit
}

func (q *question) midnight(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
}

// setRange narrows the question's time range to [since, until) (zero time =
// unbounded) and records the words it came from.
func (q *question) setRange(since, until time.Time, i, j int) {
	if !since.IsZero() {
		s := since.UnixMicro()
		if q.since == 0 || s > q.since {
			q.since = s
		}
	}
	if !until.IsZero() {
		u := until.UnixMicro()
		if q.until == 0 || u < q.until {
			q.until = u
		}
	}
	q.hasTime = true
	q.timeText = append(q.timeText, strings.Join(q.words[i:j], " "))
	q.take(i, j)
}

// parseTimes finds time expressions.
func (q *question) parseTimes() {
	for i := 0; i < len(q.words); i++ {
		if !q.free(i) {
			continue
		}
		if j, ok := q.relative(i); ok {
			i = j - 1
			continue
		}
		if j, ok := q.anchored(i); ok {
			i = j - 1
		}
	}
}

// relative handles "last|past|previous [N] unit", "N unit ago", "24h",
// "last week", "this week", "recently".
func (q *question) relative(i int) (int, bool) {
	w := q.words[i]
	now := q.now
	switch w {
	case "last", "past", "previous", "trailing":
		if q.free(i + 1) {
			// last 24h
			if d, ok := compact(q.words[i+1]); ok {
				q.setRange(now.Add(-d), time.Time{}, i, i+2)
				return i + 2, true
			}
			n, hasN := number(q.words[i+1])
			k := i + 1
			if hasN {
				k = i + 2
			} else {
				n = 1
			}
			if q.free(k) {
				unit := q.words[k]
				if !hasN && w == "last" {
					switch unit {
					case "week":
						mon := q.startOfWeek()
						q.setRange(mon.AddDate(0, 0, -7), mon, i, k+1)
						return k + 1, true
					case "month":
						first := q.startOfMonth()
						q.setRange(first.AddDate(0, -1, 0), first, i, k+1)
						return k + 1, true
					case "night":
						mid := q.midnight(now)
						q.setRange(mid.Add(-6*time.Hour), mid.Add(6*time.Hour), i, k+1)
						return k + 1, true
					}
				}
				if d, ok := unitWords[unit]; ok && (hasN || len(unit) > 1) {
					q.setRange(now.Add(-span(n, d)), time.Time{}, i, k+1)
					return k + 1, true
				}
			}
		}
	case "today":
		q.setRange(q.midnight(now), time.Time{}, i, i+1)
		return i + 1, true
	case "yesterday":
		mid := q.midnight(now)
		q.setRange(mid.AddDate(0, 0, -1), mid, i, i+1)
		return i + 1, true
	case "tonight":
		q.setRange(q.midnight(now).Add(18*time.Hour), time.Time{}, i, i+1)
		return i + 1, true
	case "recently", "recent", "lately":
		q.setRange(now.Add(-24*time.Hour), time.Time{}, i, i+1)
		return i + 1, true
	case "this":
		if !q.free(i + 1) {
			return i, false
		}
		mid := q.midnight(now)
		switch q.words[i+1] {
		case "morning":
			q.setRange(mid, mid.Add(12*time.Hour), i, i+2)
		case "afternoon":
			q.setRange(mid.Add(12*time.Hour), mid.Add(18*time.Hour), i, i+2)
		case "evening":
			q.setRange(mid.Add(18*time.Hour), time.Time{}, i, i+2)
		case "week":
			q.setRange(q.startOfWeek(), time.Time{}, i, i+2)
		case "month":
			q.setRange(q.startOfMonth(), time.Time{}, i, i+2)
		case "year":
			q.setRange(time.Date(now.Year(), 1, 1, 0, 0, 0, 0, now.Location()), time.Time{}, i, i+2)
		case "hour":
			q.setRange(now.Add(-time.Hour), time.Time{}, i, i+2)
		default:
			return i, false
		}
		return i + 2, true
	}
	// N unit ago / 24h / 2 hours (bare)
	if d, ok := compact(w); ok {
		j := i + 1
		if q.free(j) && q.words[j] == "ago" {
			j++
		}
		q.setRange(now.Add(-d), time.Time{}, i, j)
		return j, true
	}
	if n, ok := number(w); ok && q.free(i+1) && q.free(i+2) && q.words[i+2] == "ago" {
		if d, ok := unitWords[q.words[i+1]]; ok {
			q.setRange(now.Add(-span(n, d)), time.Time{}, i, i+3)
			return i + 3, true
		}
	}
	return i, false
}

// compact parses "24h", "30m", "7d", "2w".
func compact(w string) (time.Duration, bool) {
	m := compactDuration.FindStringSubmatch(w)
	if m == nil {
		return 0, false
	}
	n, _ := strconv.Atoi(m[1])
	if n == 0 {
		return 0, false
	}
	return span(n, unitWords[m[2]]), true
}

func (q *question) startOfWeek() time.Time {
	mid := q.midnight(q.now)
	back := (int(mid.Weekday()) + 6) % 7 // days since Monday
	return mid.AddDate(0, 0, -back)
}

func (q *question) startOfMonth() time.Time {
	return time.Date(q.now.Year(), q.now.Month(), 1, 0, 0, 0, 0, q.now.Location())
}

// anchored handles "since|after|from|before|until|on|at|between X [and Y]"
// and a bare date or clock time.
func (q *question) anchored(i int) (int, bool) {
	w := q.words[i]
	switch w {
	case "since", "after", "from", "starting":
		if t, _, j, ok := q.pointAt(i + 1); ok {
			q.setRange(t, time.Time{}, i, j)
			return j, true
		}
	case "before", "until", "till", "til", "to":
		if t, _, j, ok := q.pointAt(i + 1); ok {
			q.setRange(time.Time{}, t, i, j)
			return j, true
		}
	case "between":
		if t1, _, j, ok := q.pointAt(i + 1); ok && q.free(j) && (q.words[j] == "and" || q.words[j] == "to") {
			if t2, _, k, ok := q.pointAt(j + 1); ok {
				q.setRange(t1, t2, i, k)
				return k, true
			}
		}
	case "on", "at", "during":
		if t, day, j, ok := q.pointAt(i + 1); ok {
			if day {
				q.setRange(t, t.AddDate(0, 0, 1), i, j)
			} else {
				q.setRange(t, time.Time{}, i, j)
			}
			return j, true
		}
	default:
		if t, day, j, ok := q.pointAt(i); ok && (day || clockTime.MatchString(w) || meridiemTime.MatchString(w)) {
			if _, isWeekday := weekdays[w]; isWeekday || day {
				q.setRange(t, t.AddDate(0, 0, 1), i, j)
			} else {
				q.setRange(t, time.Time{}, i, j)
			}
			return j, true
		}
	}
	return i, false
}

// pointAt parses a point in time starting at token i: a date (2026-11-20,
// RFC 3339, "nov 20"), a clock time (14:00, 2pm, noon), a weekday, today or
// yesterday. day reports a whole day. j is the token after it.
func (q *question) pointAt(i int) (t time.Time, day bool, j int, ok bool) {
	if !q.free(i) {
		return time.Time{}, false, i, false
	}
	w := q.words[i]
	now, loc := q.now, q.now.Location()
	mid := q.midnight(now)
	if d, err := time.ParseInLocation("2006-01-02", w, loc); err == nil {
		if q.free(i+1) && clockTime.MatchString(q.words[i+1]) {
			return q.clock(d, q.words[i+1]), false, i + 2, true
		}
		return d, true, i + 1, true
	}
	if t, err := time.Parse(time.RFC3339, strings.ToUpper(w)); err == nil {
		return t.In(loc), false, i + 1, true
	}
	if clockTime.MatchString(w) || meridiemTime.MatchString(w) || w == "noon" || w == "midnight" {
		t := q.clock(mid, w)
		if t.After(now) {
			t = t.AddDate(0, 0, -1)
		}
		return t, false, i + 1, true
	}
	switch w {
	case "today":
		return mid, true, i + 1, true
	case "yesterday":
		return mid.AddDate(0, 0, -1), true, i + 1, true
	}
	if wd, isWeekday := weekdays[w]; isWeekday {
		back := (int(mid.Weekday()) - int(wd) + 7) % 7
		return mid.AddDate(0, 0, -back), true, i + 1, true
	}
	if m, isMonth := months[w]; isMonth && q.free(i+1) {
		dayNum, err := strconv.Atoi(strings.TrimRight(q.words[i+1], "stndrh"))
		if err == nil && dayNum >= 1 && dayNum <= 31 {
			d := time.Date(now.Year(), m, dayNum, 0, 0, 0, 0, loc)
			if d.Day() != dayNum {
				return time.Time{}, false, i, false // "february 30" is no date
			}
			if d.After(now) {
				d = d.AddDate(-1, 0, 0)
			}
			return d, true, i + 2, true
		}
	}
	return time.Time{}, false, i, false
}

// clock sets the time of day w (14:00, 2pm, 9:30am, noon, midnight) on day.
func (q *question) clock(day time.Time, w string) time.Time {
	h, m := 0, 0
	switch {
	case w == "noon":
		h = 12
	case w == "midnight":
	case clockTime.MatchString(w):
		p := clockTime.FindStringSubmatch(w)
		h, _ = strconv.Atoi(p[1])
		m, _ = strconv.Atoi(p[2])
	default:
		p := meridiemTime.FindStringSubmatch(w)
		h, _ = strconv.Atoi(p[1])
		if p[2] != "" {
			m, _ = strconv.Atoi(p[2])
		}
		h %= 12
		if p[3] == "pm" {
			h += 12
		}
	}
	h, m = min(h, 23), min(m, 59)
	return time.Date(day.Year(), day.Month(), day.Day(), h, m, 0, 0, day.Location())
}
