package exporter

import (
	"context"
	"errors"
	"math"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/otlpgw/otlpgw/gateway/config"
)

// FuzzParseRetryAfter feeds arbitrary Retry-After values from an
// upstream's 429/502/503/504. The delay always lies in [0,
// maxUpstreamDelay]: delay-seconds up to the bound give exactly that many
// seconds; more is clamped to it and reported as bad, as is a negative or
// unreadable value; an HTTP date gives the time left until it (clamped
// the same way), or 0 once it has passed.
func FuzzParseRetryAfter(f *testing.F) {
	now := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	for _, s := range []string{"", "0", "1", "60", "61", "120", " 30 ", "-5", "+7", "1.5", "9223372036", "9223372037", "18446744074",
		"99999999999999999999", "Tue, 08 Dec 2026 00:00:30 GMT", "Tue, 08 Dec 2026 00:01:00 GMT", "Mon, 07 Dec 2026 23:00:00 GMT", "Tuesday, 08-Dec-26 00:00:30 GMT",
		"Tue Dec  8 00:00:10 2026", "Fri, 31 Dec 9999 23:59:59 GMT", "Mon, 01 Jan 0001 00:00:00 GMT", "soon"} {
		f.Add(s)
	}
	bound := big.NewInt(int64(maxUpstreamDelay / time.Second))
	f.Fuzz(func(t *testing.T, v string) {
		d, bad := parseRetryAfter(v, now)
		if d < 0 || d > maxUpstreamDelay {
			t.Fatalf("parseRetryAfter(%q) = %s, outside [0, %s]", v, d, maxUpstreamDelay)
		}
		t1 := strings.TrimSpace(v)
		if t1 == "" {
			if d != 0 || bad {
				t.Fatalf("parseRetryAfter(%q) = %s, %t; want 0, not bad", v, d, bad)
			}
			return
		}
		if digits := strings.TrimPrefix(t1, "+"); digits != "" && strings.Trim(digits, "0123456789") == "" && len(t1)-len(digits) <= 1 {
			n, _ := new(big.Int).SetString(digits, 10)
			if n.Cmp(bound) <= 0 {
				if want := time.Duration(n.Int64()) * time.Second; d != want || bad {
					t.Fatalf("parseRetryAfter(%q) = %s, %t; want %s, not bad", v, d, bad, want)
				}
			} else if d != maxUpstreamDelay || !bad {
				t.Fatalf("parseRetryAfter(%q) = %s, %t; want %s, bad", v, d, bad, maxUpstreamDelay)
			}
			return
		}
		if strings.HasPrefix(t1, "-") && strings.Trim(t1[1:], "0123456789") == "" && len(t1) > 1 {
			if strings.Trim(t1[1:], "0") == "" { // -0 is zero, not negative
				if d != 0 || bad {
					t.Fatalf("parseRetryAfter(%q) = %s, %t; want 0, not bad", v, d, bad)
				}
				return
			}
			if d != 0 || !bad {
				t.Fatalf("parseRetryAfter(%q) = %s, %t; want 0, bad for a negative delay", v, d, bad)
			}
			return
		}
		if at, err := http.ParseTime(t1); err == nil {
			want, wantBad := at.Sub(now), false
			switch {
			case want <= 0:
				want = 0
			case want > maxUpstreamDelay:
				want, wantBad = maxUpstreamDelay, true
			}
			if d != want || bad != wantBad {
				t.Fatalf("parseRetryAfter(%q) = %s, %t; want %s, %t until %s", v, d, bad, want, wantBad, at)
			}
			return
		}
		if d != 0 || !bad {
			t.Fatalf("parseRetryAfter(%q) = %s, %t; want 0, bad for a malformed value", v, d, bad)
		}
	})
}

// FuzzGRPCRetryInfo builds an upstream's gRPC status from arbitrary
// bytes (a google.rpc.Status, with any details) and classifies it as the
// otlp exporter does. Exactly the codes the OTLP specification calls
// retryable are retried (CANCELLED only when not our own); the delay is
// never negative and is the first positive RetryInfo delay, when there is
// one, as far as a Duration holds it.
func FuzzGRPCRetryInfo(f *testing.F) {
	add := func(code codes.Code, details ...proto.Message) {
		st := &spb.Status{Code: int32(code), Message: "upstream says " + code.String()}
		for _, d := range details {
			a, err := anypb.New(d)
			if err != nil {
				f.Fatal(err)
			}
			st.Details = append(st.Details, a)
		}
		b, err := proto.Marshal(st)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
	}
	add(codes.Unavailable)
	add(codes.Unavailable, &errdetails.RetryInfo{RetryDelay: durationpb.New(2 * time.Second)})
	add(codes.ResourceExhausted, &errdetails.ErrorInfo{Reason: "QUOTA"}, &errdetails.RetryInfo{RetryDelay: &durationpb.Duration{Seconds: 1, Nanos: 500}})
	add(codes.Aborted, &errdetails.RetryInfo{RetryDelay: &durationpb.Duration{Seconds: -3}}, &errdetails.RetryInfo{RetryDelay: durationpb.New(time.Second)})
	add(codes.DeadlineExceeded, &errdetails.RetryInfo{RetryDelay: &durationpb.Duration{Seconds: math.MaxInt64}})
	add(codes.DataLoss, &errdetails.RetryInfo{RetryDelay: &durationpb.Duration{Seconds: 1, Nanos: -5}})
	add(codes.Canceled, &errdetails.RetryInfo{})
	add(codes.InvalidArgument, &errdetails.RetryInfo{RetryDelay: durationpb.New(time.Minute)})
	add(codes.Code(99))
	f.Add([]byte{0x08, 0x0e, 0x1a, 0x02, 0x0a, 0x00}, true)

	retryable := map[codes.Code]bool{codes.Unavailable: true, codes.DeadlineExceeded: true, codes.Aborted: true,
		codes.OutOfRange: true, codes.DataLoss: true, codes.Canceled: true}
	f.Fuzz(func(t *testing.T, b []byte, ownCancel bool) {
		var sp spb.Status
		if proto.Unmarshal(b, &sp) != nil {
			return
		}
		st := status.FromProto(&sp)
		// The first RetryInfo among the details, read independently of
		// retryInfoDelay: its delay when it decodes into a valid
		// duration, clamped to [0, maxUpstreamDelay].
		hasInfo, wantDelay, wantBad := false, time.Duration(0), false
		for _, a := range sp.GetDetails() {
			if !strings.HasSuffix(a.GetTypeUrl(), "/google.rpc.RetryInfo") && a.GetTypeUrl() != "google.rpc.RetryInfo" {
				continue
			}
			hasInfo = true
			var ri errdetails.RetryInfo
			switch {
			case proto.Unmarshal(a.GetValue(), &ri) != nil:
				wantBad = true
			case ri.GetRetryDelay() == nil:
			case ri.GetRetryDelay().CheckValid() != nil:
				wantBad = true
			default:
				switch d := ri.GetRetryDelay().AsDuration(); {
				case d < 0:
					wantBad = true
				case d > maxUpstreamDelay:
					wantDelay, wantBad = maxUpstreamDelay, true
				default:
					wantDelay = d
				}
			}
			break
		}
		err, bad := classifyGRPC(st.Err(), ownCancel)
		isRetry, after := IsRetryable(err)
		want := retryable[st.Code()] && !(st.Code() == codes.Canceled && ownCancel) ||
			st.Code() == codes.ResourceExhausted && hasInfo
		if isRetry != want {
			t.Fatalf("code %s (own cancel %t, RetryInfo %t): retryable %t, want %t", st.Code(), ownCancel, hasInfo, isRetry, want)
		}
		if err == nil && st.Code() != codes.OK || !errors.Is(err, st.Err()) && err != st.Err() {
			t.Fatalf("code %s: classified as %v, which does not wrap the status", st.Code(), err)
		}
		if after < 0 || after > maxUpstreamDelay {
			t.Fatalf("code %s: delay %s, outside [0, %s]", st.Code(), after, maxUpstreamDelay)
		}
		if !isRetry {
			return
		}
		if after != wantDelay || bad != wantBad {
			t.Fatalf("code %s: delay %s (bad %t), want %s (bad %t) from %v", st.Code(), after, bad, wantDelay, wantBad, sp.GetDetails())
		}
	})
}

// TestBackoffGivesUpOnDelayTooLongForADuration is the case FuzzParseRetryAfter
// led to (before upstream delays were clamped): a delay near the largest
// Duration, asked for after a first retry, once overflowed the
// max_elapsed_time check and was waited. The retrier must hold on its own,
// whatever a sender hands it.
func TestBackoffGivesUpOnDelayTooLongForADuration(t *testing.T) {
	cfg := config.Retry{Enabled: true, InitialInterval: 100 * time.Millisecond, MaxInterval: time.Second, Multiplier: 2, MaxElapsedTime: time.Hour}
	for _, v := range []time.Duration{time.Duration(math.MaxInt64), time.Duration(math.MaxInt64) - time.Second} {
		rt, clk := testRetrier(cfg, 0.5)
		calls := 0
		attempt := func(context.Context) (Partial, error) {
			calls++
			switch calls {
			case 1:
				return Partial{}, errDown
			case 2:
				return Partial{}, Retryable(errors.New("come back later"), v)
			}
			return Partial{}, nil
		}
		_, reason, _ := rt.do(context.Background(), attempt, nil)
		if reason != failedRetriesExhausted || calls != 2 || !equalDurations(clk.sleeps, []time.Duration{100 * time.Millisecond}) {
			t.Errorf("delay %s: reason %v after %d attempts and waits %v; want retries_exhausted after 2 attempts and one 100ms wait", v, reason, calls, clk.sleeps)
		}
	}
}

// FuzzStatusMessage feeds arbitrary error bodies from an OTLP/HTTP
// upstream. A google.rpc.Status with a message gives that message;
// anything else gives "(no body)" or a Go-quoted copy of at most its
// first 256 bytes, so an upstream's HTML page or binary garbage ends up
// in one readable line of the error.
func FuzzStatusMessage(f *testing.F) {
	st, _ := proto.Marshal(&spb.Status{Code: 3, Message: "invalid span: trace_id is empty"})
	f.Add(st)
	f.Add([]byte("<html><body>\n<h1>502 Bad Gateway</h1>\n</body></html>\n"))
	f.Add([]byte(`{"code":8,"message":"quota"}`))
	f.Add([]byte{})
	f.Add([]byte{0x12, 0x00})
	f.Add([]byte(strings.Repeat("é", 200)))
	f.Fuzz(func(t *testing.T, body []byte) {
		got := statusMessage(body)
		var sp spb.Status
		if len(body) > 0 && proto.Unmarshal(body, &sp) == nil && sp.GetMessage() != "" {
			if got != sp.GetMessage() {
				t.Fatalf("statusMessage = %q, want the status message %q", got, sp.GetMessage())
			}
			return
		}
		if len(body) == 0 {
			if got != "(no body)" {
				t.Fatalf("statusMessage(empty) = %q", got)
			}
			return
		}
		s, err := strconv.Unquote(got)
		if err != nil || strings.ContainsAny(got, "\n\r") {
			t.Fatalf("statusMessage(%q) = %q: not one quoted line (%v)", body, got, err)
		}
		if want := body[:min(len(body), 256)]; s != string(want) {
			t.Fatalf("statusMessage(%q) quotes %q, want the first %d bytes", body, s, len(want))
		}
	})
}
