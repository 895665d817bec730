//! Output: results.json and results.md.

use super::cpu::KINDS;
use super::*;

pub(super) fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|c| {
        c.lines().find_map(|l| l.strip_prefix("model name")).map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
    });
    json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "cpu": cpu,
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
    })
}

fn yes_no(met: &Value) -> &'static str {
    if met.as_bool().unwrap_or(false) {
        "yes"
    } else {
        "**no**"
    }
}

fn markdown(r: &Value) -> String {
    let (s, d, k, c, m) = (&r["scan"], &r["delivery"], &r["seek"], &r["cost"], &r["memory"]);
    let u = &r["durability"];
    let mut md = format!(
        "# Benchmark results (`{}`, {})\n\n{} records of ~{} B, {} webhooks, {} days, {} CPUs.\n\n\
         | figure | ours | reference | ratio | target | met |\n|---|---|---|---|---|---|\n",
        r["config"].as_str().unwrap_or_default(),
        r["generated_at"].as_str().unwrap_or_default(),
        r["dataset"]["records"],
        r["dataset"]["mean_record_bytes"],
        r["dataset"]["webhooks"],
        r["dataset"]["days"],
        r["machine"]["cpus"],
    );
    md += &format!(
        "| scan rate (records/s) | {} | bare rdkafka {} (kcat {}) | {} | ≥ 0.9 | {} |\n",
        s["worker_records_per_s"],
        s["bare_rdkafka_records_per_s"],
        s["kcat_records_per_s"],
        s["worker_vs_bare"],
        yes_no(&s["met"])
    );
    md += &format!(
        "| delivery rate (events/s) | {} | receiver via wrk {} | {} | ≥ 10,000/s and ≥ 0.5 | {} |\n",
        d["events_per_s"],
        d["receiver_capacity_per_s"],
        d["vs_receiver"],
        yes_no(&d["met"])
    );
    md += &format!(
        "| one slice, {} events, in process (events/s) | worker {} | bare replayer {} | {} | ≥ 0.8 | {} |\n\
         | the same slice through the stack (events/s) | {} | bare replayer {} | {} | | |\n",
        u["events"],
        u["worker_events_per_s"],
        u["bare_posts_per_s"],
        u["worker_vs_bare"],
        yes_no(&u["met"]),
        u["stack_events_per_s"],
        u["bare_posts_per_s"],
        u["stack_vs_bare"]
    );
    md += &format!(
        "| time to first delivery, from slice pickup (ms) | {} (5-day log) | {} (1-hour log) | {} | ≤ 1.5 | {} |\n\
         | time to first delivery, from the request (ms) | {} (5-day log) | {} (1-hour log) | {} | | |\n",
        k["first_delivery_ms_5_day_log"],
        k["first_delivery_ms_1_hour_log"],
        k["ratio"],
        yes_no(&k["met"]),
        k["from_request_ms_5_day_log"],
        k["from_request_ms_1_hour_log"],
        k["ratio_from_request"]
    );
    md += &format!(
        "| DynamoDB writes per 1,000 records scanned | {} | | | ≤ 2 | {} |\n",
        c["dynamodb_writes_per_1000_scanned"],
        yes_no(&c["met"])
    );
    md += &format!(
        "| SQS requests / MySQL writes per 1,000 records scanned | {} / {} | | | | |\n",
        c["sqs_requests_per_1000_scanned"], c["mysql_writes_per_1000_scanned"]
    );
    md += &format!(
        "| worker peak RSS, {} records in one slice (MB) | {} | | | < 128 | {} |\n",
        m["records_in_slice"],
        m["worker_peak_rss_mb"],
        yes_no(&m["met"])
    );
    md += &format!(
        "\n| slices at once | seconds | events/s | speed-up | cores used: {} |\n|---|---|---|---|{}\n",
        KINDS.join(" | "),
        "---|".repeat(KINDS.len())
    );
    for p in r["parallel_slices"].as_array().into_iter().flatten() {
        let cores: Vec<String> = KINDS.iter().map(|k| p["cores"][*k].to_string()).collect();
        md += &format!(
            "| {} | {} | {} | {} | {} |\n",
            p["slices_at_once"],
            p["seconds"],
            p["events_per_s"],
            p["speedup"],
            cores.join(" | ")
        );
    }
    md += "\n| receiver answers after (ms) | events, hours | events/s | in-flight bound | ratio (target ≥ 0.9) | within slices | handoff idle p50 / max (ms) | longest gap in a slice (ms) |\n\
           |---|---|---|---|---|---|---|---|\n";
    for p in r["slow_receivers"].as_array().into_iter().flatten() {
        md += &format!(
            "| {} | {}, {} | {} | {} ({} in flight) | {} {} | {} ({}) | {} / {} | {} |\n",
            p["answer_ms"],
            p["events"],
            p["hours"],
            p["events_per_s"],
            p["bound_events_per_s"],
            p["in_flight"],
            p["vs_bound"],
            yes_no(&p["met"]),
            p["in_slice_events_per_s"],
            p["in_slice_vs_bound"],
            p["handoff_idle_ms_p50"],
            p["handoff_idle_ms_max"],
            p["longest_gap_in_a_slice_ms"],
        );
    }
    md += &growth_table(&r["growth"]);
    md += &api_tables(&r["api"]);
    md += &index_table(&r["index"]);
    md
}

/// Figure 11: the log's index: records read per event with and without it,
/// and the indexer's own cost.
fn index_table(x: &Value) -> String {
    if x.is_null() {
        return String::new();
    }
    let mut md = String::from(
        "\n| replay (one slice) | index | events delivered | records read | skipped | read unindexed | records read per event | seconds |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for r in x["replays"].as_array().into_iter().flatten() {
        md += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r["webhook"],
            if r["index"].as_bool().unwrap_or(false) { "yes" } else { "no" },
            r["events_delivered"],
            r["records_read"],
            r["records_skipped"],
            r["records_unindexed"],
            r["records_read_per_event"],
            r["seconds"],
        );
    }
    let i = &x["indexer"];
    md += &format!(
        "\nThe indexer: {} records in {} s ({}/s; {} s per million), {} MySQL writes and {} stored bytes per million \
         records ({} rows, {} B in all; blocks of {} records).\n",
        i["records"],
        i["seconds"],
        i["records_per_s"],
        i["seconds_per_million"],
        i["mysql_writes_per_million"],
        i["stored_bytes_per_million"],
        i["rows"],
        i["stored_bytes"],
        i["block_records"],
    );
    md
}

/// Figure 10: the same days at growing log sizes, and largest against smallest.
fn growth_table(g: &Value) -> String {
    if g.is_null() {
        return String::new();
    }
    let mut md = String::from(
        "\n| records in the log | on disk (MB) | first delivery, last hour (ms) | full scan in process (s) | records/s | \
         through the stack (s) | worker peak RSS (MB) |\n|---|---|---|---|---|---|---|\n",
    );
    for p in g["points"].as_array().into_iter().flatten() {
        let mb = p["log_bytes_on_disk"].as_f64().map_or("-".into(), |b| format!("{:.0}", b / 1_048_576.0));
        md += &format!(
            "| {} | {mb} | {} | {} | {} | {} | {} |\n",
            p["records"],
            p["first_delivery_ms"],
            p["full_scan_seconds"],
            p["full_scan_records_per_s"],
            p["through_the_stack_seconds"],
            p["worker_peak_rss_mb"],
        );
    }
    let r = &g["growth"];
    md += &format!(
        "| largest / smallest: {}× the records | | {}× (flat: ≈ 1) | {}× ({}× per record; linear: ≈ 1) | | | {}× (flat: ≈ 1) |\n",
        r["records"], r["first_delivery"], r["full_scan"], r["full_scan_per_record"], r["worker_peak_rss"]
    );
    for s in g["skipped"].as_array().into_iter().flatten() {
        md += &format!(
            "\n{} records skipped: {} bytes of disk needed, {} free.\n",
            s["records"], s["bytes_needed"], s["bytes_free"]
        );
    }
    md
}

/// Figure 9: the API's two calls open-loop, the rate the gateway keeps,
/// cold starts and binary sizes.
fn api_tables(a: &Value) -> String {
    if a.is_null() {
        return String::new();
    }
    let mut md = String::from(
        "\n| API call, open-loop | rate asked / kept (per s) | requests | answered 2xx /s | gateway p50 / p99 (ms) | function p50 / p99 (ms, REPORT) | answers |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for (name, p) in [("create-replay", &a["create_replay"]), ("get-job", &a["get_job"])] {
        md += &format!(
            "| {name} | {} / {} | {} | {} | {} / {} | {} / {} | {} |\n",
            p["asked_rate_per_s"],
            p["rate_per_s"],
            p["requests"],
            p["answered_per_s"],
            p["gateway_ms_p50"],
            p["gateway_ms_p99"],
            p["function_ms_p50"],
            p["function_ms_p99"],
            p["answers"].to_string().replace('|', "/")
        );
    }
    md += "\n| function | first answer after its processes were killed (ms) | next answers, median (ms) | binary (bytes) |\n\
           |---|---|---|---|\n";
    for (name, binary) in [("api", "replay-api"), ("worker", "replay-worker"), ("sweeper", "replay-sweeper")] {
        let c = &a["cold_start"][name];
        md += &format!("| {name} | {} | {} | {} |\n", c["first_ms"], c["warm_ms"], a["binary_bytes"][binary]);
    }
    md
}

pub(super) fn write_results(opts: &BenchOptions, results: &Value) -> Result<()> {
    std::fs::create_dir_all(&opts.out_dir)?;
    std::fs::write(opts.out_dir.join("results.json"), serde_json::to_string_pretty(results)? + "\n")?;
    let md = markdown(results);
    std::fs::write(opts.out_dir.join("results.md"), &md)?;
    println!("\n{md}\n==> wrote {0}/results.json and {0}/results.md", opts.out_dir.display());
    Ok(())
}
