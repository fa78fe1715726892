//! Generates a large, valid flow for the `check` benchmark and its test.

/// The config the generated flow needs.
pub const CONFIG: &str = "languages: [en, sl]\nskills:\n  routers: { max_level: 3 }\n";

/// Prompts the generated flow plays.
pub const PROMPTS: [&str; 4] = ["welcome", "choose", "invalid", "hold-music"];

/// Returns a flow of at least `lines` lines: a chain of steps, each with a
/// menu, a digit collection, conditions and a match, ending in a queue.
pub fn generate(lines: usize) -> String {
    let mut out = String::from(HEADER);
    let mut count = HEADER.lines().count();
    let mut step = 0;
    while count < lines {
        let text = step_text(step);
        count += text.lines().count();
        out.push_str(&text);
        step += 1;
    }
    out.push_str(&format!("step s{step} {{\n  enqueue q\n}}\n"));
    out
}

const HEADER: &str = r#"flow large answers "+38615550100"

hours office in "Europe/Ljubljana" {
  mon..fri 08:00..17:00
  sat      09:00..12:00
  holiday  2026-12-25
}

queue q {
  strategy longest_idle
  needs    routers >= 2
  after 60s relax routers >= 1
  priority if vip then 100 else 0
  max wait 10m
  overflow voicemail "general"
}

on call {
  let vip = false
  let count = 0
  goto s0
}

"#;

fn step_text(n: usize) -> String {
    let next = n + 1;
    format!(
        r#"step s{n} {{
  play "welcome"
  menu {{
    prompt "choose"
    timeout 5s
    attempts 3
    1 => set vip = true
    2 => {{
      set count = count + {n}
      tag "menu-{n}-{{count}}"
    }}
    3 => goto s{next}
    invalid => play "invalid"
    no input => play "invalid"
    exhausted => enqueue q
  }}
  collect code{n} {{
    prompt "choose"
    length 4..6
    attempts 2
    valid if code{n} starts with "1"
    exhausted => enqueue q
  }}
  if open(office) and count > 3 {{
    set count = count - 1
  }} else if vip {{
    tag "vip-{n}"
  }}
  match code{n} {{
    "1000" => goto s{next}
    starts with "12" => enqueue q
    else => set count = count * 2
  }}
  goto s{next}
}}

"#
    )
}
