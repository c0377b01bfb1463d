package smtptest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"strings"
	"testing"
)

// Parsed is a multipart/alternative message taken apart.
type Parsed struct {
	Header    netmail.Header // the top-level header
	Subject   string         // the Subject, RFC 2047 words decoded
	MediaType string         // the top-level media type
	Text      string         // the decoded text/plain part
	HTML      string         // the decoded text/html part
}

// Parse takes apart a message as otpguard's email sender writes it: a
// multipart/alternative of a text/plain and a text/html part, each
// quoted-printable or base64. It fails the test when the message cannot be
// read or is not multipart/alternative, and marks it failed for a part of
// another type.
func Parse(tb testing.TB, data []byte) Parsed {
	tb.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		tb.Fatalf("smtptest: read message: %v", err)
	}
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		tb.Fatalf("smtptest: decode Subject: %v", err)
	}
	p := Parsed{Header: msg.Header, Subject: subject}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		tb.Fatalf("smtptest: parse Content-Type: %v", err)
	}
	p.MediaType = mediaType
	if mediaType != "multipart/alternative" {
		tb.Fatalf("got Content-Type %s, want multipart/alternative", mediaType)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tb.Fatalf("smtptest: next part: %v", err)
		}
		var body io.Reader = part // quoted-printable is decoded by multipart
		if strings.EqualFold(part.Header.Get("Content-Transfer-Encoding"), "base64") {
			body = base64.NewDecoder(base64.StdEncoding, part)
		}
		b, err := io.ReadAll(body)
		if err != nil {
			tb.Fatalf("smtptest: read part: %v", err)
		}
		ct, _, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if err != nil {
			tb.Fatalf("smtptest: parse part Content-Type: %v", err)
		}
		switch ct {
		case "text/plain":
			p.Text = string(b)
		case "text/html":
			p.HTML = string(b)
		default:
			tb.Errorf("got part %s, want text/plain or text/html", ct)
		}
	}
	return p
}
