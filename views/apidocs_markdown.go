package views

import "strings"

// span is a piece of a description: plain text, or a Markdown code span.
type span struct {
	Text string
	Code bool
}

// codeSpans splits text at backticks: `a` is code, a backtick without its closing one is text.
func codeSpans(text string) []span {
	var out []span
	for {
		open := strings.IndexByte(text, '`')
		if open < 0 {
			break
		}
		end := strings.IndexByte(text[open+1:], '`')
		if end < 0 {
			break
		}
		if open > 0 {
			out = append(out, span{Text: text[:open]})
		}
		out = append(out, span{Text: text[open+1 : open+1+end], Code: true})
		text = text[open+1+end+1:]
	}
	if text != "" {
		out = append(out, span{Text: text})
	}
	return out
}
