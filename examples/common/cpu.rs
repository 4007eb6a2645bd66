//! For the benchmarks: the CPU a process's threads have used, from Linux's `/proc`.

use std::collections::HashMap;

/// CPU seconds process `pid` spent so far, summed by thread name (trailing digits dropped,
/// so a pool's threads count as one), largest first; `None` where `/proc` cannot tell.
pub fn by_thread(pid: u32) -> Option<Vec<(String, f64)>> {
    let mut by_name: HashMap<String, f64> = HashMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let path = task.ok()?.path();
        let name = std::fs::read_to_string(path.join("comm")).ok()?;
        let stat = std::fs::read_to_string(path.join("stat")).ok()?;
        // After the parenthesised name, utime and stime are the 12th and 13th fields (the
        // 14th and 15th of the line), in clock ticks: 100 per second on Linux.
        let after = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = after.split(' ').collect();
        let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        let name = name
            .trim()
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .to_string();
        *by_name.entry(name).or_default() += ticks / 100.0;
    }
    let mut cpu: Vec<(String, f64)> = by_name.into_iter().collect();
    cpu.sort_by(|a, b| b.1.total_cmp(&a.1));
    Some(cpu)
}
