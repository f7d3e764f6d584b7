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
           {service: "mentormatch.v1.SpeedDatingService"}, {service: "mentormatch.v1.ShortlistService"}],
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

// The cohort file in the protobuf JSON mapping, read as the mapping says (as Go's protojson and Python's
// json_format read it): each field by its lowerCamelCase JSON name or its .proto name; 64-bit integers as numbers
// or strings; enums by name or number; doubles as numbers or "NaN", "Infinity", "-Infinity"; Durations as "1.5s";
// null as the default; an unknown field or a value of the wrong type is an error at its path. proto-loader would
// silently drop the snake_case keys (and solve a different cohort), so the file is converted here first.
let contractRoot = null;
function contract() {
  if (contractRoot === null) {
    const root = new protobuf.Root({});
    root.resolvePath = (origin, target) => {
      for (const dir of INCLUDE_DIRS) {
        const candidate = path.join(dir, target);
        if (fs.existsSync(candidate)) return candidate;
      }
      return target;
    };
    contractRoot = root.loadSync(["mentormatch/v1/matching.proto"], {keepCase: true});
    contractRoot.resolveAll();
  }
  return contractRoot;
}

// protoc's JSON name of a field: underscores dropped, the letter after one upper-cased.
function jsonName(protoName) {
  return protoName.replace(/_+([a-zA-Z0-9])/g, (_, c) => c.toUpperCase());
}
// proto-loader's (protobufjs') name of a field when it does not keep the case.
function loaderName(protoName) {
  return protobuf.util.camelCase(protoName);
}

const INT_RANGES = {int32: [-(2 ** 31), 2 ** 31 - 1], sint32: [-(2 ** 31), 2 ** 31 - 1], sfixed32: [-(2 ** 31), 2 ** 31 - 1],
                    uint32: [0, 2 ** 32 - 1], fixed32: [0, 2 ** 32 - 1]};
const LONGS = new Set(["int64", "sint64", "sfixed64", "uint64", "fixed64"]);

function shown(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  const text = JSON.stringify(value);
  return `${typeof value === "string" ? "a string" : typeof value === "boolean" ? "a boolean" : "a number"} (${text.length > 40 ? text.slice(0, 37) + "..." : text})`;
}

function scalarFromJson(field, value, where, problems) {
  const type = field.type;
  if (field.resolvedType instanceof protobuf.Enum) {
    const values = field.resolvedType.values;
    if (typeof value === "string" && Object.prototype.hasOwnProperty.call(values, value)) return value;
    if (typeof value === "number" && Number.isInteger(value) && value >= INT_RANGES.int32[0] && value <= INT_RANGES.int32[1]) return value;
    problems.push({field: where, description: `expected one of ${Object.keys(values).join(", ")} (or its number), got ${shown(value)}`});
    return undefined;
  }
  if (type in INT_RANGES || LONGS.has(type)) {
    const text = typeof value === "string" ? value.trim() : value;
    const ok = (typeof value === "number" && Number.isInteger(value)) ||
               (typeof value === "string" && /^-?\d+(\.0*)?([eE]\+?\d+)?$/.test(text));
    if (!ok) {
      problems.push({field: where, description: `expected a whole number, got ${shown(value)}`});
      return undefined;
    }
    if (LONGS.has(type)) return String(typeof value === "number" || /[.eE]/.test(text) ? BigInt(Number(text)) : BigInt(text));
    const number = Number(text);
    const [low, high] = INT_RANGES[type];
    if (!(number >= low && number <= high)) {
      problems.push({field: where, description: `${text} is out of range: expected a whole number in ${low}..${high}`});
      return undefined;
    }
    return number;
  }
  if (type === "double" || type === "float") {
    if (typeof value === "number") return value;
    if (value === "NaN" || value === "Infinity" || value === "-Infinity") return Number(value);
    if (typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))) return Number(value);
    problems.push({field: where, description: `expected a number (or "NaN", "Infinity", "-Infinity"), got ${shown(value)}`});
    return undefined;
  }
  if (type === "bool") {
    if (typeof value === "boolean") return value;
    problems.push({field: where, description: `expected true or false, got ${shown(value)}`});
    return undefined;
  }
  if (type === "string") {
    if (typeof value === "string") return value;
    problems.push({field: where, description: `expected a string, got ${shown(value)}`});
    return undefined;
  }
  if (type === "bytes") {
    if (typeof value === "string") return Buffer.from(value, "base64");
    problems.push({field: where, description: `expected base64 text, got ${shown(value)}`});
    return undefined;
  }
  problems.push({field: where, description: `unsupported field type ${type}`});
  return undefined;
}

function durationFromJson(value, where, problems) {
  const match = typeof value === "string" ? /^(-)?(\d+)(?:\.(\d{1,9}))?s$/.exec(value) : null;
  if (!match) {
    problems.push({field: where, description: `expected a duration such as "1.5s", got ${shown(value)}`});
    return undefined;
  }
  const sign = match[1] ? -1 : 1;
  return {seconds: String(sign * Number(match[2])), nanos: sign * Number((match[3] || "").padEnd(9, "0"))};
}

function messageFromJson(type, value, where, problems) {
  if (type.fullName === ".google.protobuf.Duration") return durationFromJson(value, where, problems);
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    problems.push({field: where || "<root>", description: `expected a JSON object, got ${shown(value)}`});
    return undefined;
  }
  const byName = new Map();
  for (const field of type.fieldsArray) {
    byName.set(field.name, field);
    byName.set(jsonName(field.name), field);
  }
  const out = {};
  const seen = new Map();
  for (const [key, item] of Object.entries(value)) {
    const field = byName.get(key);
    const at = (name) => (where ? `${where}.${name}` : name);
    if (!field) {
      problems.push({field: at(key), description: `unknown field ${JSON.stringify(key)}`});
      continue;
    }
    const here = at(field.name);
    if (seen.has(field.name)) {
      problems.push({field: here, description: `given twice, as ${JSON.stringify(seen.get(field.name))} and as ${JSON.stringify(key)}`});
      continue;
    }
    seen.set(field.name, key);
    if (item === null) continue;  // the default
    const one = (element, elementWhere) => (field.resolvedType instanceof protobuf.Type
      ? messageFromJson(field.resolvedType, element, elementWhere, problems)
      : scalarFromJson(field, element, elementWhere, problems));
    if (field.map) {
      if (typeof item !== "object" || Array.isArray(item)) {
        problems.push({field: here, description: `expected a JSON object, got ${shown(item)}`});
        continue;
      }
      out[loaderName(field.name)] = Object.fromEntries(Object.entries(item).map(([k, v]) => [k, one(v, `${here}[${JSON.stringify(k)}]`)]));
    } else if (field.repeated) {
      if (!Array.isArray(item)) {
        problems.push({field: here, description: `expected a JSON array, got ${shown(item)}`});
        continue;
      }
      out[loaderName(field.name)] = item.map((element, j) => one(element, `${here}[${j}]`));
    } else {
      const converted = one(item, here);
      if (converted !== undefined) out[loaderName(field.name)] = converted;
    }
  }
  return out;
}

// A `mentormatch.v1.Cohort` from its protobuf-JSON text, as proto-loader's request object; throws an Error
// listing every problem ("field: description") when the text does not fit the contract.
function cohortFromJson(text) {
  let data;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new Error(`not valid JSON: ${error.message}`);
  }
  const problems = [];
  const cohort = messageFromJson(contract().lookupType("mentormatch.v1.Cohort"), data, "", problems);
  if (problems.length) {
    const error = new Error(`the cohort does not fit mentormatch.v1.Cohort (${problems.length} problem(s)):\n` +
                            problems.map((p) => `  ${p.field}: ${p.description}`).join("\n"));
    error.violations = problems;
    throw error;
  }
  return cohort;
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
  let cohort;
  try {
    cohort = cohortFromJson(fs.readFileSync(args.cohortFile, "utf8").replace(/^\uFEFF/, ""));
  } catch (error) {
    process.stderr.write(`${args.cohortFile}: ${error.message}\n`);
    process.exit(2);
  }
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

module.exports = {createClient, cohortFromJson, decodeError, withRetryInfo, SERVICE_CONFIG};

if (require.main === module) main();
