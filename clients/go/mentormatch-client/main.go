// Command mentormatch-client calls mentormatch.v1.MatchingService from Go, with the code buf generates from
// proto/ (buf.gen.yaml; package mentormatchv1): one Match call, its answer printed in the protobuf JSON mapping.
//
//	mentormatch-client [-alternatives N] [-time-limit SECONDS] [-validate-only] [-label TEXT]
//	                   [-token TOKEN] [-timeout SECONDS] TARGET COHORT.json
//
// COHORT.json is a mentormatch.v1.Cohort in the protobuf JSON mapping. TARGET is HOST:PORT, or several replicas
// (`ipv4:10.0.0.5:50051,10.0.0.6:50051`, `dns:///mentormatch.ns.svc.cluster.local:50051`): the service config
// below balances over them (round_robin), skips a replica whose health check says NOT_SERVING, and retries a
// call on UNAVAILABLE and RESOURCE_EXHAUSTED (docs/service.md, "Replicas"). gRPC's retryPolicy does not read
// the RetryInfo the service sends with a refusal, so `match` waits the delay it asks for and calls again,
// within the call's deadline.
//
// Exit codes: 0 answered, 1 the call failed (a JSON line with code, message, reason, violations and
// retryDelaySeconds on stdout), 2 bad arguments or files, 3 the server is unreachable.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"strings"
	"time"

	errdetails "google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/health" // client-side health checking (healthCheckConfig) is opt-in in Go
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"

	mentormatchv1 "mentormatch/gen/go/mentormatch/v1"
)

// serviceConfig is server.replicas.service_config() of the Python package: the one docs/service.md documents.
const serviceConfig = `{
  "loadBalancingConfig": [{"round_robin": {}}],
  "healthCheckConfig": {"serviceName": "mentormatch.v1.MatchingService"},
  "methodConfig": [{
    "name": [{"service": "mentormatch.v1.MatchingService"}, {"service": "mentormatch.v1.SweepService"}],
    "retryPolicy": {"maxAttempts": 4, "initialBackoff": "0.1s", "maxBackoff": "1s", "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE", "RESOURCE_EXHAUSTED"]}}]}`

// retryInfoAttempts bounds the calls `match` makes when the service keeps refusing with a RetryInfo.
const retryInfoAttempts = 8

// failure is a failed call as data, the same fields the Node client prints.
type failure struct {
	Code              string      `json:"code"`
	Message           string      `json:"message"`
	Reason            string      `json:"reason"`
	Violations        []violation `json:"violations"`
	RetryDelaySeconds *float64    `json:"retryDelaySeconds"`
}

type violation struct {
	Field       string `json:"field"`
	Description string `json:"description"`
}

func describe(err error) failure {
	st := status.Convert(err)
	out := failure{Code: codeName(st.Code()), Message: st.Message(), Violations: []violation{}}
	for _, detail := range st.Details() {
		switch d := detail.(type) {
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				out.Violations = append(out.Violations, violation{v.GetField(), v.GetDescription()})
			}
		case *errdetails.ErrorInfo:
			out.Reason = d.GetReason()
		case *errdetails.RetryInfo:
			seconds := float64(d.GetRetryDelay().GetSeconds()) + float64(d.GetRetryDelay().GetNanos())/1e9
			out.RetryDelaySeconds = &seconds
		}
	}
	return out
}

// codeName is the status code's canonical name ("INVALID_ARGUMENT"), as in the other clients and grpcurl.
func codeName(code codes.Code) string {
	name := code.String() // "InvalidArgument"
	out := make([]rune, 0, len(name)+4)
	for i, r := range name {
		if i > 0 && r >= 'A' && r <= 'Z' {
			out = append(out, '_')
		}
		out = append(out, []rune(strings.ToUpper(string(r)))...)
	}
	return string(out)
}

// match calls Match until it answers, fails without a RetryInfo, has tried retryInfoAttempts times, or the
// delay a RetryInfo asks for would pass ctx's deadline.
func match(ctx context.Context, client mentormatchv1.MatchingServiceClient, request *mentormatchv1.MatchRequest,
) (*mentormatchv1.MatchResponse, error) {
	for attempt := 1; ; attempt++ {
		response, err := client.Match(ctx, request)
		if err == nil {
			return response, nil
		}
		code := status.Code(err)
		delay := describe(err).RetryDelaySeconds
		if (code != codes.ResourceExhausted && code != codes.Unavailable) || delay == nil || attempt >= retryInfoAttempts {
			return nil, err
		}
		wait := time.Duration(*delay * float64(time.Second))
		if deadline, ok := ctx.Deadline(); ok && time.Now().Add(wait).After(deadline) {
			return nil, err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, err
		}
	}
}

func main() {
	alternatives := flag.Int("alternatives", 1, "matchings to return, 1-50")
	timeLimit := flag.Float64("time-limit", 10, "the solve's time limit in seconds")
	validateOnly := flag.Bool("validate-only", false, "check the cohort only")
	label := flag.String("label", "", "echoed back in the answer")
	token := flag.String("token", os.Getenv("MENTORMATCH_TOKEN"), "bearer token ($MENTORMATCH_TOKEN)")
	timeout := flag.Float64("timeout", 0, "the call's deadline in seconds; 0: the time limit plus 10")
	flag.Parse()
	if flag.NArg() != 2 || *alternatives < 1 || *timeLimit <= 0 {
		fmt.Fprintln(os.Stderr, "usage: mentormatch-client [flags] TARGET COHORT.json (-alternatives >= 1, -time-limit > 0)")
		os.Exit(2)
	}
	raw, err := ioutil.ReadFile(flag.Arg(1))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	cohort := &mentormatchv1.Cohort{}
	if err := protojson.Unmarshal(raw, cohort); err != nil {
		fmt.Fprintf(os.Stderr, "%s: not a mentormatch.v1.Cohort in the JSON mapping: %v\n", flag.Arg(1), err)
		os.Exit(2)
	}
	conn, err := grpc.Dial(flag.Arg(0), grpc.WithInsecure(), grpc.WithDefaultServiceConfig(serviceConfig))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	defer conn.Close()
	seconds := *timeout
	if seconds <= 0 {
		seconds = *timeLimit + 10
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds*float64(time.Second)))
	defer cancel()
	if *token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+*token)
	}
	request := &mentormatchv1.MatchRequest{
		Cohort: cohort, ValidateOnly: *validateOnly, Label: *label,
		Options: &mentormatchv1.MatchOptions{
			Alternatives: int32Pointer(int32(*alternatives)),
			TimeLimit:    durationpb.New(time.Duration(*timeLimit * float64(time.Second))),
		},
	}
	response, err := match(ctx, mentormatchv1.NewMatchingServiceClient(conn), request)
	if err != nil {
		line, _ := json.Marshal(describe(err))
		fmt.Println(string(line))
		if status.Code(err) == codes.Unavailable {
			os.Exit(3)
		}
		os.Exit(1)
	}
	out, err := protojson.Marshal(response)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(string(out))
}

// int32Pointer is a pointer to v: proto3 `optional` fields are pointers in Go.
func int32Pointer(v int32) *int32 {
	return &v
}
