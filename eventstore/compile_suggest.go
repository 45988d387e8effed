package eventstore

import (
	"cmp"
	"slices"
	"strings"
	"unicode"
)

// maxSuggestions is how many known ids an unknown one is offered.
const maxSuggestions = 3

// confusables folds common Cyrillic and Greek look-alikes of ASCII letters
// so a homoglyph of a known id can be offered as a suggestion.
var confusables = map[rune]rune{
	'а': 'a', 'е': 'e', 'о': 'o', 'р': 'p', 'с': 'c', 'х': 'x', 'у': 'y', 'к': 'k', 'м': 'm', 'т': 't',
	'н': 'h', 'в': 'b', 'і': 'i', 'ѕ': 's', 'ԁ': 'd', 'ɡ': 'g', 'α': 'a', 'ε': 'e', 'ο': 'o', 'ρ': 'p',
	'τ': 't', 'ν': 'v', 'κ': 'k', 'ι': 'i', 'η': 'n', 'ӏ': 'l',
}

func isASCII(w string) bool {
	for i := 0; i < len(w); i++ {
		if w[i] >= 0x80 {
			return false
		}
	}
	return true
}

// foldConfusables maps look-alike letters to ASCII.
func foldConfusables(w string) string {
	return strings.Map(func(r rune) rune {
		if a, ok := confusables[r]; ok {
			return a
		}
		return unicode.ToLower(r)
	}, w)
}

// digitsOf is the digits of w in order, leading zeros of each run dropped.
func digitsOf(w string) string {
	var b strings.Builder
	run := false
	for _, r := range w {
		if r >= '0' && r <= '9' {
			if !run && r == '0' {
				continue // agent-001 and agent-1 have the same number
			}
			run = true
			b.WriteRune(r)
			continue
		}
		if run {
			b.WriteByte('.')
		}
		run = false
	}
	return b.String()
}

// sameDigits reports whether two ids carry the same numbers: a misspelt
// kind may be corrected, a different number never is.
func sameDigits(a, b string) bool { return digitsOf(a) == digitsOf(b) }

// suggestEntities offers the known ids closest to an unknown one: its
// homoglyph fold first, then the same kind by edit distance.
func suggestEntities(w string, known []string) []string {
	folded := foldConfusables(w)
	type cand struct {
		id string
		d  int
	}
	var cands []cand
	kind := kindOf(folded)
	for _, k := range known {
		if len(k) > maxFuzzyRunes {
			continue
		}
		if k == folded && k != w {
			return []string{k} // a homoglyph of exactly this id
		}
		d := editDistance([]rune(folded), []rune(k), 4)
		if d <= 4 || (kind != "" && kindOf(k) == kind) {
			cands = append(cands, cand{k, d})
		}
	}
	slices.SortFunc(cands, func(a, b cand) int {
		if c := cmp.Compare(a.d, b.d); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	var out []string
	for _, c := range cands {
		if len(out) == maxSuggestions {
			break
		}
		out = append(out, c.id)
	}
	return out
}

// kindOf is the letters before an id's first digit or dash: "agent" of agent-009.
func kindOf(id string) string {
	if i := strings.IndexByte(id, '-'); i > 0 {
		return id[:i]
	}
	if m := numberedID.FindStringSubmatch(id); m != nil {
		return m[1]
	}
	return ""
}
