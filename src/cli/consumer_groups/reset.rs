//! `--reset-offsets`: the new offset of each partition for every scenario
//! (to-earliest, to-latest, to-current, to-offset, shift-by, to-datetime,
//! by-duration, from-file), printed as Kafka's plan table or exported as
//! CSV, and committed with --execute.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{bail, Context};

use super::{error_line, groups_to_act_on, topic_partitions, ConsumerGroupsArgs, Plan};
use crate::client::admin::{Admin, OffsetSpec};

/// `YYYY-MM-DDTHH:mm:SS[.sss][zone]` → ms since the epoch (UTC unless a
/// `Z` or `±HH:MM` zone is given; Kafka uses the local zone, which is UTC
/// on servers).
fn parse_datetime(s: &str) -> anyhow::Result<i64> {
    let bad = || {
        anyhow::anyhow!(
            "Error parsing timestamp. It does not contain a 'T' according to ISO8601 format: {s}"
        )
    };
    let (date, time) = s.split_once('T').ok_or_else(bad)?;
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap_or(-1)).collect();
    let (clock, offset_min) = match time.find(['Z', '+']).or_else(|| time.rfind('-')) {
        Some(i) => {
            let zone = &time[i..];
            let minutes = if zone == "Z" {
                0
            } else {
                let sign = if zone.starts_with('-') { -1 } else { 1 };
                let hm: Vec<i64> = zone[1..].split(':').map(|x| x.parse().unwrap_or(0)).collect();
                sign * (hm.first().copied().unwrap_or(0) * 60 + hm.get(1).copied().unwrap_or(0))
            };
            (&time[..i], minutes)
        }
        None => (time, 0),
    };
    let (hms, millis) = clock.split_once('.').unwrap_or((clock, "0"));
    let t: Vec<i64> = hms.split(':').map(|x| x.parse().unwrap_or(-1)).collect();
    if d.len() != 3 || t.len() != 3 || d.iter().chain(&t).any(|&x| x < 0) {
        return Err(bad());
    }
    let ms: i64 = format!("{millis:0<3}")[..3].parse().map_err(|_| bad())?;
    let days = days_from_civil(d[0], d[1], d[2]);
    Ok(((days * 24 + t[0]) * 60 + t[1] - offset_min) * 60_000 + t[2] * 1000 + ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// ISO-8601 `PnDTnHnMnS` → ms.
fn parse_duration(s: &str) -> anyhow::Result<i64> {
    let bad =
        || anyhow::anyhow!("Error parsing duration {s}: expected the ISO-8601 form PnDTnHnMnS");
    let rest = s.strip_prefix('P').or_else(|| s.strip_prefix('p')).ok_or_else(bad)?;
    let (days, time) = rest.split_once(['T', 't']).unwrap_or((rest, ""));
    let mut ms = 0i64;
    let mut num = String::new();
    for (part, units) in [
        (days, &[('D', 86_400_000.0)][..]),
        (time, &[('H', 3_600_000.0), ('M', 60_000.0), ('S', 1000.0)][..]),
    ] {
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                num.push(c);
                continue;
            }
            let unit = units.iter().find(|(u, _)| u.eq_ignore_ascii_case(&c)).ok_or_else(bad)?.1;
            let n: f64 = num.parse().map_err(|_| bad())?;
            ms += (n * unit) as i64;
            num.clear();
        }
    }
    if !num.is_empty() {
        return Err(bad());
    }
    Ok(ms)
}

pub(super) async fn reset(
    args: &ConsumerGroupsArgs,
    admin: &Admin,
    out: &mut String,
) -> anyhow::Result<()> {
    let scenarios = [
        args.to_offset.is_some(),
        args.from_file.is_some(),
        args.to_datetime.is_some(),
        args.by_duration.is_some(),
        args.to_earliest,
        args.to_latest,
        args.to_current,
        args.shift_by.is_some(),
    ];
    if scenarios.iter().filter(|&&s| s).count() != 1 {
        bail!("Option [reset-offsets] takes exactly one of these options: [to-offset], [from-file], [to-datetime], [by-duration], [to-earliest], [to-latest], [to-current], [shift-by]");
    }
    if args.from_file.is_none() && !args.all_topics && args.topic.is_empty() {
        bail!("Option [reset-offsets] takes one of these options: [all-topics], [topic]");
    }
    if !args.dry_run && !args.execute {
        let _ = writeln!(
            out,
            "WARN: No action will be performed as the --execute option is missing.In a future major release, the default behavior of this command will be to prompt the user before executing the reset rather than doing a dry run. You should add the --dry-run option explicitly if you are scripting this command and want to keep the current default behavior without prompting."
        );
    }
    let all = if args.all_groups {
        admin.list_groups(&[]).await?.into_iter().map(|g| g.group_id).collect()
    } else {
        Vec::new()
    };
    let groups = groups_to_act_on(args, &all)?;
    let mut plans: Vec<(String, Plan)> = Vec::new();
    for group in groups {
        let d = admin.describe_group(&group).await?;
        if d.state != "Empty" && d.state != "Dead" {
            error_line(out, &format!("Assignments can only be reset if the group '{group}' is inactive, but the current state is {}.", d.state));
            continue;
        }
        let committed = admin.group_offsets(&group).await?;
        let plan = plan_reset(args, admin, &group, &committed).await?;
        plans.push((group, plan));
    }
    if args.export {
        let many = plans.len() > 1;
        for (group, plan) in &plans {
            for ((t, p), o) in plan {
                if many {
                    let _ = writeln!(out, "{group},{t},{p},{o}");
                } else {
                    let _ = writeln!(out, "{t},{p},{o}");
                }
            }
        }
    } else if !plans.is_empty() {
        let _ = writeln!(
            out,
            "\n{:<30} {:<30} {:<10} {:<15}",
            "GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"
        );
        for (group, plan) in &plans {
            for ((t, p), o) in plan {
                let _ = writeln!(out, "{group:<30} {t:<30} {p:<10} {o:<15}");
            }
        }
    }
    if args.execute {
        for (group, plan) in &plans {
            admin.commit_group_offsets(group, plan).await?;
        }
    }
    Ok(())
}

async fn plan_reset(
    args: &ConsumerGroupsArgs,
    admin: &Admin,
    group: &str,
    committed: &BTreeMap<(String, i32), i64>,
) -> anyhow::Result<Plan> {
    if let Some(file) = &args.from_file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let mut plan = BTreeMap::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let cells: Vec<&str> = line.split(',').map(str::trim).collect();
            let (t, p, o) = match cells.as_slice() {
                [t, p, o] => (*t, *p, *o),
                [g, t, p, o] if *g == group => (*t, *p, *o),
                [_, _, _, _] => continue,
                _ => bail!("Invalid line in {}: {line}", file.display()),
            };
            plan.insert((t.to_string(), p.parse()?), o.parse()?);
        }
        return Ok(plan);
    }
    let partitions: Vec<(String, i32)> = if args.all_topics {
        committed.keys().cloned().collect()
    } else {
        topic_partitions(admin, &args.topic).await?
    };
    if partitions.is_empty() {
        return Ok(BTreeMap::new());
    }
    let earliest = admin.list_offsets(&partitions, OffsetSpec::Earliest).await?;
    let latest = admin.list_offsets(&partitions, OffsetSpec::Latest).await?;
    let clamp = |tp: &(String, i32), o: i64| {
        let lo = earliest.get(tp).copied().unwrap_or(0);
        let hi = latest.get(tp).copied().unwrap_or(o);
        o.clamp(lo, hi.max(lo))
    };
    let mut plan = BTreeMap::new();
    if let Some(ts) = match (&args.to_datetime, &args.by_duration) {
        (Some(dt), _) => Some(parse_datetime(dt)?),
        (_, Some(dur)) => Some(crate::time::now_ms() - parse_duration(dur)?),
        _ => None,
    } {
        let found = admin.list_offsets(&partitions, OffsetSpec::Timestamp(ts)).await?;
        for tp in &partitions {
            // No record at or after the time: the end of the log.
            let o = found
                .get(tp)
                .copied()
                .filter(|&o| o >= 0)
                .or_else(|| latest.get(tp).copied())
                .unwrap_or(0);
            plan.insert(tp.clone(), o);
        }
        return Ok(plan);
    }
    for tp in &partitions {
        let current = committed.get(tp).copied();
        let o = if args.to_earliest {
            earliest.get(tp).copied().unwrap_or(0)
        } else if args.to_latest {
            latest.get(tp).copied().unwrap_or(0)
        } else if args.to_current {
            current.or_else(|| latest.get(tp).copied()).unwrap_or(0)
        } else if let Some(n) = args.to_offset {
            clamp(tp, n)
        } else if let Some(n) = args.shift_by {
            let base = current.or_else(|| latest.get(tp).copied()).unwrap_or(0);
            clamp(tp, base.saturating_add(n))
        } else {
            continue;
        };
        plan.insert(tp.clone(), o);
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_and_durations() {
        let cases = [
            ("1970-01-01T00:00:00.000", 0, "the epoch"),
            ("2024-03-01T12:30:15.250", 1_709_296_215_250, "leap year, millis"),
            ("2024-03-01T12:30:15Z", 1_709_296_215_000, "UTC zone, no millis"),
            ("2024-03-01T14:30:15+02:00", 1_709_296_215_000, "offset zone"),
        ];
        for (s, want, why) in cases {
            assert_eq!(parse_datetime(s).unwrap(), want, "{why}");
        }
        assert!(parse_datetime("2024-03-01 12:30:15").is_err(), "needs the T");
        assert_eq!(parse_duration("PT1H30M").unwrap(), 5_400_000);
        assert_eq!(parse_duration("P1DT1S").unwrap(), 86_401_000);
        assert!(parse_duration("1H").is_err());
    }
}
