//! The Markdown report: the machine, the method, then one section per benchmark with its
//! tables, charts and targets (met or missed, with the figure and what limits it).

use std::fmt::Write as _;

/// Where the numbers were measured.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Machine {
    /// CPU model.
    pub(crate) cpu: String,
    /// Logical CPUs available.
    pub(crate) cores: usize,
    /// Kernel release.
    pub(crate) kernel: String,
    /// `rustc --version`.
    pub(crate) rustc: String,
    /// UTC date of the run.
    pub(crate) date: String,
}

impl Machine {
    /// Reads `/proc` and asks `rustc`.
    pub(crate) fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim() == "model name").then(|| value.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|k| k.trim().to_owned())
            .unwrap_or_else(|_| "unknown".to_owned());
        let rustc = std::process::Command::new("rustc")
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| "unknown".to_owned());
        let date = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        Self {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            kernel,
            rustc,
            date,
        }
    }
}

/// A target and how the run fared against it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Target {
    /// What is measured, e.g. "throughput vs bare".
    pub(crate) name: String,
    /// The goal, e.g. "≥ 0.80×".
    pub(crate) goal: String,
    /// The figure measured.
    pub(crate) measured: String,
    /// Whether the goal was met.
    pub(crate) met: bool,
    /// When missed: what limits it.
    pub(crate) cause: String,
}

impl Target {
    /// A target judged by `met`; `cause` is shown only when it is missed.
    pub(crate) fn new(name: &str, goal: &str, measured: String, met: bool, cause: &str) -> Self {
        Self {
            name: name.to_owned(),
            goal: goal.to_owned(),
            measured,
            met,
            cause: cause.to_owned(),
        }
    }
}

/// A table: a header row and data rows of the same width.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Table {
    /// Column names.
    pub(crate) header: Vec<String>,
    /// Rows.
    pub(crate) rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these columns.
    pub(crate) fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row.
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn render(&self, out: &mut String) {
        let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        out.push_str(&line(&self.header));
        let rule: Vec<String> = self.header.iter().map(|_| "---".to_owned()).collect();
        out.push_str(&line(&rule));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out.push('\n');
    }
}

/// One benchmark's results.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Section {
    /// Heading.
    pub(crate) title: String,
    /// How it was measured.
    pub(crate) method: String,
    /// Why it did not run, if it did not.
    pub(crate) skipped: Option<String>,
    /// Result tables, each with a caption.
    pub(crate) tables: Vec<(String, Table)>,
    /// Charts: alt text and path relative to the report.
    pub(crate) charts: Vec<(String, String)>,
    /// Targets.
    pub(crate) targets: Vec<Target>,
    /// Remarks after the tables.
    pub(crate) notes: Vec<String>,
}

impl Section {
    /// A section to fill in.
    pub(crate) fn new(title: &str, method: &str) -> Self {
        Self {
            title: title.to_owned(),
            method: method.to_owned(),
            ..Self::default()
        }
    }

    /// A benchmark that did not run, and why.
    pub(crate) fn skipped(title: &str, reason: &str) -> Self {
        Self {
            title: title.to_owned(),
            skipped: Some(reason.to_owned()),
            ..Self::default()
        }
    }

    /// A benchmark that failed part-way.
    pub(crate) fn failed(title: &str, error: &str) -> Self {
        Self::skipped(title, &format!("failed: {error}"))
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "## {}\n", self.title);
        if let Some(reason) = &self.skipped {
            let _ = writeln!(out, "**Skipped.** {reason}\n");
            return;
        }
        if !self.method.is_empty() {
            let _ = writeln!(out, "{}\n", self.method);
        }
        for (caption, table) in &self.tables {
            let _ = writeln!(out, "{caption}\n");
            table.render(out);
        }
        for (alt, path) in &self.charts {
            let _ = writeln!(out, "![{alt}]({path})\n");
        }
        if !self.targets.is_empty() {
            let mut table = Table::new(&["target", "goal", "measured", "verdict"]);
            for t in &self.targets {
                let verdict = if t.met {
                    "met".to_owned()
                } else {
                    format!("**missed**: {}", t.cause)
                };
                table.row(vec![
                    t.name.clone(),
                    t.goal.clone(),
                    t.measured.clone(),
                    verdict,
                ]);
            }
            out.push_str("Targets:\n\n");
            table.render(out);
        }
        for note in &self.notes {
            let _ = writeln!(out, "{note}\n");
        }
    }
}

/// The whole report.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    machine: Machine,
    quick: bool,
    /// Benchmarks, in order.
    pub(crate) sections: Vec<Section>,
}

impl Report {
    /// An empty report for `machine`.
    pub(crate) fn new(machine: Machine, quick: bool) -> Self {
        Self {
            machine,
            quick,
            sections: Vec::new(),
        }
    }

    /// The Markdown text.
    pub(crate) fn render(&self) -> String {
        let m = &self.machine;
        let mut out = String::from("# HydroNet load benchmarks\n\n");
        out.push_str(
            "Generated by `cargo run --release -p hydronet-load -- --out benches/REPORT.md`; \
             do not edit by hand.\n\n",
        );
        if self.quick {
            out.push_str(
                "**Smoke run (`--quick`)**: every part ran for about a second; the figures \
                 show the program works, not what the code can do.\n\n",
            );
        }
        let mut machine = Table::new(&["", ""]);
        machine.row(vec!["date (UTC)".into(), m.date.clone()]);
        machine.row(vec!["CPU".into(), m.cpu.clone()]);
        machine.row(vec!["logical CPUs".into(), m.cores.to_string()]);
        machine.row(vec!["kernel".into(), m.kernel.clone()]);
        machine.row(vec!["rustc".into(), m.rustc.clone()]);
        out.push_str("## Machine\n\n");
        machine.render(&mut out);
        out.push_str(METHOD);
        let (met, missed) =
            self.sections
                .iter()
                .flat_map(|s| &s.targets)
                .fold((0, 0), |(met, missed), t| {
                    if t.met {
                        (met + 1, missed)
                    } else {
                        (met, missed + 1)
                    }
                });
        let _ = writeln!(out, "**Targets: {met} met, {missed} missed.**\n");
        for section in &self.sections {
            section.render(&mut out);
        }
        out
    }
}

const METHOD: &str = "## Method\n\n\
Every server under test is a child process of the benchmark program (`hydronet-load serve \
<kind>`), listening on loopback; the load generator runs in the parent, on keep-alive \
HTTP/1.1 connections (hyper). Server CPU time is read from `/proc/<pid>/stat` (utime + \
stime, 10 ms ticks) before and after a run and divided by the requests it served. \
Capacity is measured closed-loop (each connection sends its next request as soon as the \
last is answered). Latency is measured open-loop: requests are due at fixed intervals and \
each is timed from when it was *due*, not when it was sent, so a stall is charged to every \
request queued behind it (no coordinated omission). Percentiles are exact (nearest rank \
over every sample). Client and servers share the same CPUs, so absolute figures are lower \
bounds of what a dedicated server does; ratios against the same run's baseline are the \
figures to compare.\n\n";

/// `x` with `digits` decimals.
pub(crate) fn fmt(x: f64, digits: usize) -> String {
    format!("{x:.digits$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine() -> Machine {
        Machine {
            cpu: "Test CPU".into(),
            cores: 2,
            kernel: "6.1".into(),
            rustc: "rustc 1.95.0".into(),
            date: "2026-12-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn a_report_lists_machine_tables_and_verdicts() {
        let mut report = Report::new(machine(), false);
        let mut section = Section::new("B1 tenancy tax", "Bare vs stack.");
        let mut table = Table::new(&["variant", "req/s"]);
        table.row(vec!["bare".into(), "1000".into()]);
        section.tables.push(("Capacity:".into(), table));
        section
            .charts
            .push(("latency".into(), "report/b1-latency.png".into()));
        section
            .targets
            .push(Target::new("ratio", "≥ 0.80×", "0.91×".into(), true, "x"));
        section.targets.push(Target::new(
            "cpu",
            "≤ 5 µs",
            "7.2 µs".into(),
            false,
            "the span per request",
        ));
        report.sections.push(section);
        report
            .sections
            .push(Section::skipped("B3", "HYDRONET_BENCH_REDIS_URL is unset."));
        let text = report.render();

        assert!(text.contains("| CPU | Test CPU |"));
        assert!(text.contains("| variant | req/s |\n| --- | --- |\n| bare | 1000 |\n"));
        assert!(text.contains("![latency](report/b1-latency.png)"));
        assert!(text.contains("| ratio | ≥ 0.80× | 0.91× | met |"));
        assert!(text.contains("| cpu | ≤ 5 µs | 7.2 µs | **missed**: the span per request |"));
        assert!(text.contains("**Targets: 1 met, 1 missed.**"));
        assert!(text.contains("## B3\n\n**Skipped.** HYDRONET_BENCH_REDIS_URL is unset."));
        assert!(!text.contains("Smoke run"));
    }

    #[test]
    fn a_quick_report_says_so() {
        let text = Report::new(machine(), true).render();
        assert!(text.contains("Smoke run (`--quick`)"));
        assert!(text.contains("**Targets: 0 met, 0 missed.**"));
    }

    #[test]
    fn numbers_are_rounded_as_asked() {
        assert_eq!(fmt(1.23456, 2), "1.23");
        assert_eq!(fmt(1999.5, 0), "2000");
    }
}
