#!/usr/bin/env node
// A Node.js client of mentormatch.v1.MatchingService with @grpc/grpc-js and @grpc/proto-loader: the .proto
// files under proto/ are loaded at run time (no generated code), rich errors (google.rpc.BadRequest, ErrorInfo,
// RetryInfo) are decoded from the `grpc-status-details-bin` trailer, and a call the service refuses with a
// RetryInfo (busy, or draining) is tried again after the delay it asks for, within the call's deadline.
//
//   node mentormatch-client.js TARGET COHORT.json [--alternatives N] [--time-limit SECONDS] [--validate-only]
//        [--label TEXT] [--token TOKEN] [--timeout SECONDS]
//
// COHORT.json is a `mentormatch.v1.Cohort` in the protobuf JSON mapping. Prints the MatchResponse as one line of
// JSON and exits 0; a failed call prints {"code", "message", "reason", "violations", "retryDelaySeconds"} and
// exits 1 (3 when the server is unreachable, as `mentormatch solve --server` does); bad arguments exit 2.
// $MENTORMATCH_TOKEN is the bearer token when --token is not given.
"use strict";

const fs = require("fs");
const path = require("path");
const grpc = require("@grpc/grpc-js");
const loader = require("@grpc/proto-loader");
const protobuf = require("protobufjs");

const PROTO_DIR = path.resolve(__dirname, "..", "..", "proto");
// The JSON mapping's conventions: enums by name, 64-bit integers as strings, every field present.
const INCLUDE_DIRS = [PROTO_DIR, path.join(PROTO_DIR, "vendor")];  // the contract, and googleapis' files it uses
const LOAD_OPTIONS = {includeDirs: INCLUDE_DIRS, longs: String, enums: String, defaults: true, oneofs: true};

// Transport failures (no connection yet, a replica gone) are retried by gRPC itself; the service's own refusals
// carry a RetryInfo, which gRPC's retryPolicy does not read: `withRetryInfo` below honours it.
const SERVICE_CONFIG = {
  methodConfig: [{
    name: [{service: "mentormatch.v1.MatchingService"}, {service: "mentormatch.v1.SweepService"},
           {service: "mentormatch.v1.SpeedDatingService"}],
    retryPolicy: {maxAttempts: 4, initialBackoff: "0.1s", maxBackoff: "1s", backoffMultiplier: 2,
                  retryableStatusCodes: ["UNAVAILABLE"]},
  }],
};
const RETRY_INFO_ATTEMPTS = 8;
const RETRYABLE = new Set([grpc.status.RESOURCE_EXHAUSTED, grpc.status.UNAVAILABLE]);

function loadService() {
  const definition = loader.loadSync(["mentormatch/v1/matching.proto"], LOAD_OPTIONS);
  return grpc.loadPackageDefinition(definition).mentormatch.v1;
}

let errorTypes = null;
function errorRoot() {
  if (errorTypes === null) {
    const root = new protobuf.Root();
    root.resolvePath = (origin, target) => path.join(INCLUDE_DIRS[1], target);
    errorTypes = root.loadSync(["google/rpc/status.proto", "google/rpc/error_details.proto"]);
  }
  return errorTypes;
}

// A failed call as data: its code and message, and the details the service sent.
function decodeError(error) {
  const out = {code: grpc.status[error.code] || String(error.code), message: error.details || error.message,
               reason: "", violations: [], retryDelaySeconds: null};
  const raw = error.metadata ? error.metadata.get("grpc-status-details-bin") : [];
  if (!raw.length) return out;
  const root = errorRoot();
  const status = root.lookupType("google.rpc.Status").decode(raw[0]);
  for (const any of status.details) {
    const name = any.type_url.slice(any.type_url.lastIndexOf("/") + 1);
    const type = root.lookupType(name);
    const detail = type.toObject(type.decode(any.value), {longs: Number, defaults: true});
    if (name === "google.rpc.BadRequest") {
      out.violations = detail.fieldViolations.map((v) => ({field: v.field, description: v.description}));
    } else if (name === "google.rpc.ErrorInfo") {
      out.reason = detail.reason;
    } else if (name === "google.rpc.RetryInfo") {
      out.retryDelaySeconds = detail.retryDelay.seconds + detail.retryDelay.nanos / 1e9;
    }
  }
  return out;
}

// Calls `start(deadline, callback)` until it answers, a failure without a RetryInfo, `RETRY_INFO_ATTEMPTS`
// attempts, or a delay that would pass the deadline; waits the delay each RetryInfo asks for in between.
function withRetryInfo(start, deadline, callback, attempt = 1) {
  start(deadline, (error, response) => {
    if (!error) return callback(null, response);
    const decoded = decodeError(error);
    const delayMs = decoded.retryDelaySeconds === null ? null : decoded.retryDelaySeconds * 1000;
    if (!RETRYABLE.has(error.code) || delayMs === null || attempt >= RETRY_INFO_ATTEMPTS ||
        Date.now() + delayMs >= deadline) {
      return callback(error);
    }
    setTimeout(() => withRetryInfo(start, deadline, callback, attempt + 1), delayMs);
  });
}

function createClient(target, {token = null} = {}) {
  const {MatchingService} = loadService();
  const client = new MatchingService(target, grpc.credentials.createInsecure(),
                                     {"grpc.service_config": JSON.stringify(SERVICE_CONFIG)});
  const metadata = new grpc.Metadata();
  if (token) metadata.set("authorization", `Bearer ${token}`);
  return {
    client,
    match(request, timeoutSeconds, callback) {
      const deadline = Date.now() + timeoutSeconds * 1000;
      withRetryInfo((until, done) => client.Match(request, metadata, {deadline: until}, done), deadline, callback);
    },
    close() { client.close(); },
  };
}

function parseArgs(argv) {
  const options = {alternatives: 1, timeLimit: 10, validateOnly: false, label: "", token: null, timeout: null};
  const positional = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === "--alternatives") options.alternatives = Number(value());
    else if (arg === "--time-limit") options.timeLimit = Number(value());
    else if (arg === "--timeout") options.timeout = Number(value());
    else if (arg === "--label") options.label = value();
    else if (arg === "--token") options.token = value();
    else if (arg === "--validate-only") options.validateOnly = true;
    else if (arg.startsWith("--")) throw new Error(`unknown option ${arg}`);
    else positional.push(arg);
  }
  if (positional.length !== 2) throw new Error("usage: mentormatch-client.js TARGET COHORT.json [options]");
  if (!(options.alternatives >= 1) || !(options.timeLimit > 0)) throw new Error("--alternatives >= 1, --time-limit > 0");
  return {target: positional[0], cohortFile: positional[1], ...options};
}

function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  const cohort = JSON.parse(fs.readFileSync(args.cohortFile, "utf8"));
  const whole = Math.floor(args.timeLimit);
  const request = {
    cohort, label: args.label, validateOnly: args.validateOnly,
    options: {alternatives: args.alternatives,
              timeLimit: {seconds: whole, nanos: Math.round((args.timeLimit - whole) * 1e9)}},
  };
  const client = createClient(args.target, {token: args.token || process.env.MENTORMATCH_TOKEN || null});
  // The deadline covers the solve and sending the answer: the time limit plus slack, as the Python client does.
  client.match(request, args.timeout || args.timeLimit + 10, (error, response) => {
    client.close();
    if (error) {
      process.stdout.write(JSON.stringify(decodeError(error)) + "\n");
      process.exitCode = error.code === grpc.status.UNAVAILABLE ? 3 : 1;
      return;
    }
    process.stdout.write(JSON.stringify(response) + "\n");
  });
}

module.exports = {createClient, decodeError, withRetryInfo, SERVICE_CONFIG};

if (require.main === module) main();
