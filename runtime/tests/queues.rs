//! Queues end to end: SIPp callers enqueued by a flow, SIPp agents rung by
//! flowd, and the store's call rows, agent states and callbacks.
//!
//! Agents are inserted in the store before flowd starts, logged out. Most
//! have a fixed URI on their own SIPp UAS and are made ready through the
//! queue service. One test registers a phone with digest authentication.
//! Which agent took a call is read from the call's stored row, so a wrong
//! pick fails with the agent's name.
//!
//! Every fixed port is in 24500-24999: test N owns the block of 24 from
//! 24500 + 24 * N, and the last test only the 20 ports its two SIPps need.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod queues_support;

use flowd::queue::AgentState;
use flowd::store::CallRow;
use queues_support::{
    CALLER, Flowd, PASSWORD, PATIENCE, Ports, RtpPeer, SERVICE, agent, log_lines, loud_samples,
    received_request, spawn_agent, spawn_caller, spawn_register, states, stereo_channels,
};
use std::time::Duration;

/// The number of the second flow of the priority test.
const VIP_SERVICE: &str = "201";

/// Agents ring for 3 s before the next one is tried.
const RING_3S: &str = "agents:\n  ring_timeout: 3s\n";

fn ports(test: u16) -> Ports {
    Ports {
        base: 24500 + 24 * test,
    }
}

/// Returns the flow files: queue `q` with `options` in a library file, and
/// a flow answering [`SERVICE`] with `body` as its `on call`.
fn queue_files(options: &str, body: &str) -> Vec<(&'static str, String)> {
    vec![
        ("queues.flow", format!("queue q {{\n{options}}}\n")),
        (
            "support.flow",
            format!("flow support answers \"{SERVICE}\"\n\non call {{\n{body}}}\n"),
        ),
    ]
}

/// Returns the flow files of a queue with `strategy`, hold music, no
/// wrap-up and a hang-up on overflow.
fn strategy_files(strategy: &str) -> Vec<(&'static str, String)> {
    queue_files(
        &format!("  strategy {strategy}\n  music \"hold-music\"\n  overflow hangup\n"),
        "  enqueue q\n",
    )
}

/// Places one call from `number` that hangs up 3 s after flowd answers,
/// and returns its row once the agent who took it is ready again.
async fn one_call(flowd: &mut Flowd, ports: Ports, slot: u16, number: &str) -> CallRow {
    let caller = spawn_caller(
        "caller_bye.xml",
        flowd,
        ports,
        0,
        slot,
        number,
        SERVICE,
        Duration::from_secs(3),
    );
    caller.finish().await.assert_success("caller");
    let row = flowd.next_call().await;
    let agent = row
        .agent
        .clone()
        .unwrap_or_else(|| panic!("no agent took the call: {row:?}"));
    // States are written to the store in the background, so the wrap-up
    // may not be stored yet.
    tokio::time::sleep(Duration::from_millis(500)).await;
    flowd.wait_state(&agent, "ready").await;
    row
}

fn agent_of(row: &CallRow) -> &str {
    row.agent.as_deref().unwrap_or("<none>")
}

/// Returns whether `expected` appear in `history` in this order, other
/// states between them allowed.
fn in_order(history: &[String], expected: &[&str]) -> bool {
    let mut wanted = expected.iter().peekable();
    for state in history {
        if wanted.peek().is_some_and(|next| state.starts_with(*next)) {
            wanted.next();
        }
    }
    wanted.peek().is_none()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_and_answer() {
    let ports = ports(0);
    let files = queue_files(
        "  strategy longest_idle\n  music \"hold-music\"\n  wrapup 1s\n  overflow hangup\n",
        "  enqueue q\n",
    );
    let mut flowd = Flowd::start(
        "register",
        ports,
        &files,
        RING_3S,
        &[agent("ana", None, &[])],
    )
    .await;
    let agent_peer = RtpPeer::start(ports.agent_rtp(), 0x25).await;
    let caller_peer = RtpPeer::start(ports.caller_rtp(), 0x1a).await;
    let phone = spawn_agent(
        "agent_answer.xml",
        ports,
        ports.agent_sip(0),
        0,
        1,
        Duration::ZERO,
    );

    let register = spawn_register(
        "register_agent.xml",
        &flowd,
        ports,
        0,
        1,
        "ana",
        PASSWORD,
        ports.agent_sip(0),
        3600,
    );
    register.finish().await.assert_success("registering phone");
    flowd.wait_state("ana", "ready").await;

    let caller = spawn_caller(
        "caller_bye.xml",
        &flowd,
        ports,
        0,
        1,
        CALLER,
        SERVICE,
        Duration::from_secs(4),
    );
    caller.finish().await.assert_success("caller");
    let phone = phone.finish().await;
    phone.assert_success("agent");
    let row = flowd.next_call().await;
    assert_eq!(row.queue.as_deref(), Some("q"), "{row:?}");
    assert_eq!(row.agent.as_deref(), Some("ana"), "{row:?}");
    assert_eq!(row.outcome.as_deref(), Some("answered"), "{row:?}");
    assert!(row.wait_ms >= 0, "{row:?}");
    assert!(
        row.wait_ms < 4000,
        "the caller waited for a ready agent: {row:?}"
    );
    assert!(row.talk_ms >= 1000, "talk time too short: {row:?}");
    let roles: Vec<&str> = row.legs.iter().map(|leg| leg.role.as_str()).collect();
    assert_eq!(roles, vec!["caller", "agent"], "{row:?}");

    let invite = received_request(&phone.messages, "INVITE");
    let contact = format!("INVITE sip:ana@127.0.0.1:{} ", ports.agent_sip(0));
    assert!(
        invite.starts_with(&contact),
        "the INVITE is not sent to the registered Contact:\n{invite}"
    );
    assert!(invite.contains("X-Tok-Queue: q"), "{invite}");
    assert!(
        invite.contains(&format!(
            "P-Asserted-Identity: \"{CALLER}\" <sip:{CALLER}@127.0.0.1>"
        )) || invite.contains(&format!("P-Asserted-Identity: <sip:{CALLER}@127.0.0.1>")),
        "no P-Asserted-Identity with the caller's number:\n{invite}"
    );

    flowd.wait_idle().await;
    let agent_audio = agent_peer.finish().await;
    let caller_audio = caller_peer.finish().await;
    assert!(
        agent_audio.loud > 20,
        "the agent heard too little of the caller: {agent_audio:?}"
    );
    assert!(
        caller_audio.loud > 20,
        "the caller heard too little of the agent: {caller_audio:?}"
    );

    // Wrap-up follows the call, then the agent is ready again.
    flowd.wait_state("ana", "ready").await;
    let history = states(&flowd.history("ana").await);
    assert!(
        in_order(
            &history,
            &["ready", "ringing", "on_call", "wrap_up", "ready"]
        ),
        "agent states: {history:?}"
    );
    let rows = flowd.history("ana").await;
    let wrap_up = rows.iter().rposition(|row| row.state == "wrap_up").unwrap();
    let ready = &rows[wrap_up + 1..];
    assert_eq!(ready.first().map(|row| row.state.as_str()), Some("ready"));
    // The queue's `wrapup 1s`, less 100 ms for the rounding of two clocks.
    let wrap_up_ms = ready[0].at_ms - rows[wrap_up].at_ms;
    assert!(wrap_up_ms >= 900, "wrap-up lasted {wrap_up_ms} ms");

    // Feature codes from the phone: `*51` pauses, `*52` makes ready.
    for (code, state, live) in [
        ("*51", "paused", AgentState::Paused(String::new())),
        ("*52", "ready", AgentState::Ready),
    ] {
        let dial = spawn_feature_code(&flowd, ports, code);
        dial.finish().await.assert_success(code);
        let row = flowd.wait_state("ana", state).await;
        let now = flowd.live_state("ana").await;
        assert_eq!(
            std::mem::discriminant(&now.clone().unwrap()),
            std::mem::discriminant(&live),
            "after {code}: {now:?}, stored {row:?}"
        );
    }

    let unregister = spawn_register(
        "register_agent.xml",
        &flowd,
        ports,
        0,
        1,
        "ana",
        PASSWORD,
        ports.agent_sip(0),
        0,
    );
    unregister
        .finish()
        .await
        .assert_success("unregistering phone");
    flowd.wait_state("ana", "logged_out").await;
    assert_eq!(flowd.server.stats().panics(), 0);
}

/// Dials feature code `code` as agent ana from caller port 1.
fn spawn_feature_code(flowd: &Flowd, ports: Ports, code: &str) -> queues_support::Sipp {
    queues_support::Sipp::spawn(queues_support::SippSpec {
        scenario: "register_agent_feature_code.xml",
        port: ports.caller_sip(1),
        media: ports.media(2),
        keys: vec![("user", String::from("ana"))],
        pause: Duration::ZERO,
        calls: 1,
        remote: Some(flowd.udp),
        service: Some(code),
        extra: vec![
            String::from("-au"),
            String::from("ana"),
            String::from("-ap"),
            PASSWORD.to_string(),
            // SIPp's digest uri is otherwise `sip:` and the remote host
            // and port, which flowd rejects because it must be the
            // Request-URI. SIPp adds the `sip:` itself.
            String::from("-auth_uri"),
            format!("{code}@{}", flowd.udp),
        ],
    })
}

/// Returns the status of the last response in a SIPp trace.
fn last_status(messages: &str) -> &str {
    messages
        .rmatch_indices("SIP/2.0 ")
        .find_map(|(index, _)| {
            let status = &messages[index + 8..];
            status
                .get(..3)
                .filter(|code| code.bytes().all(|b| b.is_ascii_digit()))
        })
        .unwrap_or("none")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_rejected() {
    let ports = ports(1);
    let files = strategy_files("linear");
    let config = "sip:\n  auth_failures: 2\n  auth_window: 60s\n  auth_block: 60s\n";
    let flowd = Flowd::start(
        "password",
        ports,
        &files,
        config,
        &[agent("ana", None, &[])],
    )
    .await;

    for attempt in 1..=2 {
        let register = spawn_register(
            "register_agent_rejected.xml",
            &flowd,
            ports,
            0,
            0,
            "ana",
            "wrong-password",
            ports.agent_sip(0),
            3600,
        );
        let run = register.finish().await;
        run.assert_success("registering phone with a wrong password");
        let status = last_status(&run.messages);
        assert!(
            status == "403" || status == "401",
            "attempt {attempt}: a wrong password got {status}:\n{}",
            run.messages
        );
    }

    // Two failures block the address, so the right password is rejected
    // too, without a check.
    let register = spawn_register(
        "register_agent_rejected.xml",
        &flowd,
        ports,
        0,
        0,
        "ana",
        PASSWORD,
        ports.agent_sip(0),
        3600,
    );
    let run = register.finish().await;
    run.assert_success("registering phone from a blocked address");
    assert_eq!(last_status(&run.messages), "403", "{}", run.messages);

    let history = states(&flowd.history("ana").await);
    assert!(
        !history.iter().any(|state| state == "ready"),
        "a rejected phone made the agent ready: {history:?}"
    );
}

/// Starts the agents' SIPps, answering every call, on agent ports 0.. and
/// media slots 0.. in the order of `ids`.
fn answering_agents(ports: Ports, ids: &[&str]) -> Vec<queues_support::Sipp> {
    (0..ids.len())
        .map(|index| {
            let index = u16::try_from(index).unwrap();
            spawn_agent(
                "agent_answer.xml",
                ports,
                ports.agent_sip(index),
                index,
                10,
                Duration::ZERO,
            )
        })
        .collect()
}

async fn stop_all(phones: Vec<queues_support::Sipp>) {
    for phone in phones {
        phone.stop().await;
    }
}

/// Starts flowd with `strategy` and the fixed-URI agents `ids`, whose
/// skills are `skills` each.
async fn strategy_flowd(
    name: &str,
    ports: Ports,
    files: &[(&'static str, String)],
    ids: &[&str],
    skills: &[&[(&str, u32)]],
) -> Flowd {
    let agents: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(index, id)| {
            let port = ports.agent_sip(u16::try_from(index).unwrap());
            agent(id, Some(port), skills.get(index).copied().unwrap_or(&[]))
        })
        .collect();
    Flowd::start(name, ports, files, RING_3S, &agents).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linear_always_rings_first_agent() {
    let ports = ports(2);
    let mut flowd = strategy_flowd(
        "linear",
        ports,
        &strategy_files("linear"),
        &["ana", "bor"],
        &[],
    )
    .await;
    let phones = answering_agents(ports, &["ana", "bor"]);
    // bor is ready longer, which `linear` ignores.
    flowd.ready(&["bor", "ana"]).await;
    for call in 1..=2 {
        let row = one_call(&mut flowd, ports, 3, CALLER).await;
        assert_eq!(agent_of(&row), "ana", "call {call}: {row:?}");
    }
    stop_all(phones).await;
    flowd.wait_idle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_rotates() {
    let ports = ports(3);
    let ids = ["ana", "bor", "cyd"];
    let mut flowd = strategy_flowd(
        "round-robin",
        ports,
        &strategy_files("round_robin"),
        &ids,
        &[],
    )
    .await;
    let phones = answering_agents(ports, &ids);
    // Ready in reverse order, so `longest_idle` would pick cyd, bor, ana.
    flowd.ready(&["cyd", "bor", "ana"]).await;
    let mut picks = Vec::new();
    for _ in 0..4 {
        let row = one_call(&mut flowd, ports, 3, CALLER).await;
        picks.push(agent_of(&row).to_string());
    }
    // Each pick is the agent after the previous one in the order the
    // agents were added, wrapping around.
    let first = ids.iter().position(|id| *id == picks[0]).unwrap_or(0);
    let expected: Vec<String> = (0..4)
        .map(|call| ids[(first + call) % ids.len()].to_string())
        .collect();
    assert_eq!(picks, expected);
    assert_eq!(picks[0], "ana", "the first offer goes to the first agent");
    stop_all(phones).await;
    flowd.wait_idle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn longest_idle_picks_longest_ready() {
    let ports = ports(4);
    let mut flowd = strategy_flowd(
        "longest-idle",
        ports,
        &strategy_files("longest_idle"),
        &["ana", "bor"],
        &[],
    )
    .await;
    let phones = answering_agents(ports, &["ana", "bor"]);
    flowd.ready(&["bor", "ana"]).await;
    let first = one_call(&mut flowd, ports, 3, CALLER).await;
    assert_eq!(agent_of(&first), "bor", "{first:?}");
    // bor's call ended after ana became ready, so ana is idle longer.
    let second = one_call(&mut flowd, ports, 3, CALLER).await;
    assert_eq!(agent_of(&second), "ana", "{second:?}");
    stop_all(phones).await;
    flowd.wait_idle().await;
}

/// Runs the calls that tell `fewest_calls` and `least_busy` from
/// `longest_idle`: ana takes calls while bor is paused, then bor becomes
/// ready after ana's last call ended, so ana is idle longer but bor has no
/// calls and no talk time.
async fn busy_agent_skipped(name: &str, test: u16, strategy: &str, calls_before: usize) {
    let ports = ports(test);
    let mut flowd =
        strategy_flowd(name, ports, &strategy_files(strategy), &["ana", "bor"], &[]).await;
    let phones = answering_agents(ports, &["ana", "bor"]);
    flowd.pause("bor").await;
    flowd.ready(&["ana"]).await;
    for call in 1..=calls_before {
        let row = one_call(&mut flowd, ports, 3, CALLER).await;
        assert_eq!(
            agent_of(&row),
            "ana",
            "call {call} with bor paused: {row:?}"
        );
    }
    flowd.ready(&["bor"]).await;
    let row = one_call(&mut flowd, ports, 3, CALLER).await;
    assert_eq!(
        agent_of(&row),
        "bor",
        "{strategy} must pick the agent without calls: {row:?}"
    );
    stop_all(phones).await;
    flowd.wait_idle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fewest_calls_picks_agent_without_calls() {
    busy_agent_skipped("fewest-calls", 5, "fewest_calls", 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_busy_picks_lowest_occupancy() {
    busy_agent_skipped("least-busy", 6, "least_busy", 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ring_all_cancels_other_agents() {
    let ports = ports(7);
    let mut flowd = strategy_flowd(
        "ring-all",
        ports,
        &strategy_files("ring_all"),
        &["ana", "bor"],
        &[],
    )
    .await;
    let answering = spawn_agent(
        "agent_answer.xml",
        ports,
        ports.agent_sip(0),
        0,
        1,
        Duration::ZERO,
    );
    let ringing = spawn_agent(
        "agent_no_answer.xml",
        ports,
        ports.agent_sip(1),
        1,
        1,
        Duration::ZERO,
    );
    flowd.ready(&["ana", "bor"]).await;

    let caller = spawn_caller(
        "caller_bye.xml",
        &flowd,
        ports,
        0,
        3,
        CALLER,
        SERVICE,
        Duration::from_secs(3),
    );
    // bor's scenario ends only after the CANCEL and the ACK of its 487.
    ringing.finish().await.assert_success("agent bor");
    caller.finish().await.assert_success("caller");
    answering.finish().await.assert_success("agent ana");
    let row = flowd.next_call().await;
    assert_eq!(agent_of(&row), "ana", "{row:?}");

    // Losing the race to answer is no missed call: bor is ready again, in
    // the queue service and in the stored history.
    flowd.wait_live_state("bor", &AgentState::Ready).await;
    flowd.wait_state("bor", "ready").await;
    let history = states(&flowd.history("bor").await);
    assert!(
        !history.iter().any(|state| state.starts_with("paused")),
        "bor was paused for a call another agent answered: {history:?}"
    );
    flowd.wait_idle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_picks_eligible_agents() {
    let ports = ports(8);
    let files = queue_files(
        "  strategy random\n  needs routers >= 1\n  overflow hangup\n",
        "  enqueue q\n",
    );
    let ids = ["ana", "bor", "cyd"];
    let skills: [&[(&str, u32)]; 3] = [&[("routers", 1)], &[("routers", 2)], &[]];
    let mut flowd = strategy_flowd("random", ports, &files, &ids, &skills).await;
    let phones = answering_agents(ports, &ids);
    flowd.ready(&ids).await;
    for call in 1..=4 {
        let row = one_call(&mut flowd, ports, 3, CALLER).await;
        let picked = agent_of(&row);
        assert!(
            picked == "ana" || picked == "bor",
            "call {call} went to {picked}, who lacks the skill: {row:?}"
        );
    }
    let history = states(&flowd.history("cyd").await);
    assert!(
        !history.iter().any(|state| state == "ringing"),
        "cyd was rung without the skill: {history:?}"
    );
    stop_all(phones).await;
    flowd.wait_idle().await;
}

/// Runs one call through a queue with `options` to the only agent, bor,
/// whose skills are `skills`, and returns its row.
async fn skill_call(name: &str, test: u16, options: &str, skills: &[(&str, u32)]) -> CallRow {
    let ports = ports(test);
    let files = queue_files(options, "  enqueue q\n");
    let mut flowd = strategy_flowd(name, ports, &files, &["bor"], &[skills]).await;
    let phone = spawn_agent(
        "agent_answer.xml",
        ports,
        ports.agent_sip(0),
        0,
        1,
        Duration::ZERO,
    );
    flowd.ready(&["bor"]).await;
    let caller = spawn_caller(
        "caller_bye.xml",
        &flowd,
        ports,
        0,
        1,
        CALLER,
        SERVICE,
        Duration::from_secs(12),
    );
    caller.finish().await.assert_success("caller");
    phone.finish().await.assert_success("agent");
    let row = flowd.next_call().await;
    flowd.wait_idle().await;
    row
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relaxed_skill_reaches_lower_level() {
    let options = "  needs routers >= 2\n  after 5s relax routers >= 1\n  overflow hangup\n";
    let row = skill_call("relax", 9, options, &[("routers", 1)]).await;
    assert_eq!(agent_of(&row), "bor", "{row:?}");
    // 100 ms allow for the rounding of two clocks.
    assert!(
        row.wait_ms >= 4900,
        "the level-1 agent got the call before the relax time: {row:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_skill_reaches_agent_without_it() {
    let options = "  needs language, routers >= 2\n  after 3s relax routers >= 1\n  after 6s drop routers\n  overflow hangup\n";
    let row = skill_call("drop", 10, options, &[]).await;
    assert_eq!(agent_of(&row), "bor", "{row:?}");
    assert!(
        row.wait_ms >= 5900,
        "the agent without the skill got the call before it was dropped: {row:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sticky_agent_gets_returning_caller() {
    let ports = ports(11);
    let files = queue_files(
        "  strategy linear\n  sticky for 20s\n  overflow hangup\n",
        "  enqueue q\n",
    );
    let mut flowd = strategy_flowd("sticky", ports, &files, &["ana", "bor"], &[]).await;
    let phones = answering_agents(ports, &["ana", "bor"]);
    flowd.pause("ana").await;
    flowd.ready(&["bor"]).await;
    let first = one_call(&mut flowd, ports, 3, CALLER).await;
    assert_eq!(agent_of(&first), "bor", "{first:?}");

    // `linear` alone would now pick ana.
    flowd.ready(&["ana"]).await;
    let again = one_call(&mut flowd, ports, 3, CALLER).await;
    assert_eq!(
        agent_of(&again),
        "bor",
        "the returning caller did not get their last agent: {again:?}"
    );
    let other = one_call(&mut flowd, ports, 3, "+38640999888").await;
    assert_eq!(
        agent_of(&other),
        "ana",
        "a new caller follows `linear`: {other:?}"
    );
    stop_all(phones).await;
    flowd.wait_idle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vip_overtakes_earlier_callers() {
    let ports = ports(12);
    let queue =
        "queue q {\n  strategy linear\n  priority if vip then 100 else 0\n  overflow hangup\n}\n";
    let files = vec![
        ("queues.flow", queue.to_string()),
        (
            "normal.flow",
            format!(
                "flow normal answers \"{SERVICE}\"\n\non call {{\n  let vip = false\n  enqueue q\n}}\n"
            ),
        ),
        (
            "premium.flow",
            format!(
                "flow premium answers \"{VIP_SERVICE}\"\n\non call {{\n  let vip = true\n  enqueue q\n}}\n"
            ),
        ),
    ];
    let mut flowd = strategy_flowd("vip", ports, &files, &["ana"], &[]).await;
    // ana takes one call at a time and hangs up after 2 s.
    let phone = spawn_agent(
        "agent_bye.xml",
        ports,
        ports.agent_sip(0),
        0,
        3,
        Duration::from_secs(2),
    );
    // Paused, ana is logged in, so callers are accepted and wait.
    flowd.pause("ana").await;
    let callers = [
        ("+38640000001", SERVICE),
        ("+38640000002", SERVICE),
        ("+38640000003", VIP_SERVICE),
    ];
    let mut sipps = Vec::new();
    for (index, (number, service)) in callers.iter().enumerate() {
        let index = u16::try_from(index).unwrap();
        sipps.push(spawn_caller(
            "caller_await_bye.xml",
            &flowd,
            ports,
            index,
            index + 1,
            number,
            service,
            Duration::ZERO,
        ));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    flowd.ready(&["ana"]).await;
    let mut order = Vec::new();
    for _ in 0..3 {
        let row = flowd.next_call().await;
        assert_eq!(agent_of(&row), "ana", "{row:?}");
        order.push(row.caller.clone().unwrap_or_default());
    }
    assert_eq!(
        order,
        vec!["+38640000003", "+38640000001", "+38640000002"],
        "the VIP caller goes first, then the others in arrival order"
    );
    for (sipp, (number, _)) in sipps.into_iter().zip(callers) {
        sipp.finish().await.assert_success(number);
    }
    phone.finish().await.assert_success("agent");
    flowd.wait_idle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ring_no_answer_moves_on() {
    let ports = ports(13);
    let mut flowd = strategy_flowd(
        "no-answer",
        ports,
        &strategy_files("linear"),
        &["ana", "bor"],
        &[],
    )
    .await;
    let silent = spawn_agent(
        "agent_no_answer.xml",
        ports,
        ports.agent_sip(0),
        0,
        1,
        Duration::ZERO,
    );
    let answering = spawn_agent(
        "agent_bye.xml",
        ports,
        ports.agent_sip(1),
        1,
        2,
        Duration::from_secs(2),
    );
    flowd.pause("bor").await;
    flowd.ready(&["ana"]).await;
    let first = spawn_caller(
        "caller_await_bye.xml",
        &flowd,
        ports,
        0,
        2,
        "+38640000001",
        SERVICE,
        Duration::ZERO,
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let second = spawn_caller(
        "caller_await_bye.xml",
        &flowd,
        ports,
        1,
        3,
        "+38640000002",
        SERVICE,
        Duration::ZERO,
    );

    // ana's scenario ends only after flowd's CANCEL at the ring timeout.
    let silent = silent.finish().await;
    silent.assert_success("agent ana");
    let invite = received_request(&silent.messages, "INVITE");
    assert!(invite.contains("X-Tok-Queue: q"), "{invite}");
    let paused = flowd.wait_state("ana", "paused").await;
    assert_eq!(paused.reason.as_deref(), Some("no answer"), "{paused:?}");

    // The first caller kept their place ahead of the second.
    flowd.ready(&["bor"]).await;
    let row = flowd.next_call().await;
    assert_eq!(row.caller.as_deref(), Some("+38640000001"), "{row:?}");
    assert_eq!(agent_of(&row), "bor", "{row:?}");
    let row = flowd.next_call().await;
    assert_eq!(row.caller.as_deref(), Some("+38640000002"), "{row:?}");
    assert_eq!(agent_of(&row), "bor", "{row:?}");
    first.finish().await.assert_success("first caller");
    second.finish().await.assert_success("second caller");
    answering.finish().await.assert_success("agent bor");
    flowd.wait_idle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_abandon_cancels_ringing_agent() {
    let ports = ports(14);
    let files = strategy_files("linear");
    let agents = [agent("ana", Some(ports.agent_sip(0)), &[])];
    // A ring timeout far beyond the caller's 2 s, so only the caller's
    // hang-up can cancel the agent's INVITE.
    let config = "agents:\n  ring_timeout: 30s\n";
    let mut flowd = Flowd::start("abandon", ports, &files, config, &agents).await;
    let phone = spawn_agent(
        "agent_no_answer.xml",
        ports,
        ports.agent_sip(0),
        0,
        1,
        Duration::ZERO,
    );
    flowd.ready(&["ana"]).await;
    let caller = spawn_caller(
        "caller_bye.xml",
        &flowd,
        ports,
        0,
        1,
        CALLER,
        SERVICE,
        Duration::from_secs(2),
    );
    caller.finish().await.assert_success("caller");
    // The agent's scenario ends only after the CANCEL and the ACK of its
    // 487.
    tokio::time::timeout(Duration::from_secs(20), phone.finish())
        .await
        .expect("no CANCEL reached the agent within 20 s of the caller's BYE")
        .assert_success("agent");

    let row = flowd.next_call().await;
    assert_eq!(row.outcome.as_deref(), Some("abandoned"), "{row:?}");
    assert_eq!(row.ended_by.as_deref(), Some("caller"), "{row:?}");
    flowd.wait_live_state("ana", &AgentState::Ready).await;
    flowd.wait_state("ana", "ready").await;
    let history = states(&flowd.history("ana").await);
    assert!(
        !history.iter().any(|state| state.starts_with("paused")),
        "ana was paused for a call the caller abandoned: {history:?}"
    );
    flowd.wait_idle().await;
}

/// Returns the config of the callback tests, where the customer's SIPp is
/// the carrier. `attempts` counts calls to the customer, so one attempt
/// must reach them however long the agents take to become ready.
fn callback_config(ports: Ports) -> String {
    format!(
        "agents:\n  ring_timeout: 5s\ntrunks:\n  carrier:\n    uri: \"sip:127.0.0.1:{}\"\ntransfer:\n  allow: [\"+386*\"]\n  trunk: carrier\ncallbacks:\n  trunk: carrier\n  attempts: 1\n  retry: 5s\n  ring_timeout: 10s\n",
        ports.caller_sip(1)
    )
}

/// Starts flowd for a callback test with ana paused, and has a caller
/// accept the callback offer and confirm their number.
async fn request_callback(name: &str, ports: Ports) -> Flowd {
    let files = queue_files(
        "  strategy linear\n  music \"hold-music\"\n  callback after 5s key 1\n  overflow hangup\n",
        "  enqueue q\n",
    );
    let agents = [agent("ana", Some(ports.agent_sip(0)), &[])];
    let mut flowd = Flowd::start(name, ports, &files, &callback_config(ports), &agents).await;
    flowd.pause("ana").await;
    let caller = spawn_caller(
        "queue_caller_callback.xml",
        &flowd,
        ports,
        0,
        1,
        CALLER,
        SERVICE,
        Duration::from_millis(6500),
    );
    caller.finish().await.assert_success("caller");
    let row = flowd.next_call().await;
    assert_eq!(row.outcome.as_deref(), Some("callback"), "{row:?}");
    assert_eq!(row.queue.as_deref(), Some("q"), "{row:?}");
    let callbacks = flowd.store.callbacks(None, 10).await.unwrap();
    assert_eq!(callbacks.len(), 1, "{callbacks:?}");
    assert_eq!(callbacks[0].number, CALLER, "{callbacks:?}");
    assert_eq!(callbacks[0].status, "pending", "{callbacks:?}");
    assert_eq!(callbacks[0].queue, "q", "{callbacks:?}");
    flowd
}

/// Makes ana ready and checks that she is rung first, then the customer
/// through the trunk, and that the callback ends done.
async fn callback_completes(flowd: &mut Flowd, ports: Ports) {
    let phone = spawn_agent(
        "agent_answer.xml",
        ports,
        ports.agent_sip(0),
        0,
        1,
        Duration::ZERO,
    );
    // The customer answers and hangs up after 3 s.
    let customer = spawn_agent(
        "agent_bye.xml",
        ports,
        ports.caller_sip(1),
        2,
        1,
        Duration::from_secs(3),
    );
    flowd.ready(&["ana"]).await;

    // A callback ends `done` or `failed`; the SIPps are checked after it,
    // so a failed callback is reported with its error at once.
    let ended = async {
        loop {
            let callbacks = flowd.store.callbacks(None, 10).await.unwrap();
            if callbacks
                .iter()
                .all(|callback| callback.status == "done" || callback.status == "failed")
            {
                return callbacks;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let callbacks = match tokio::time::timeout(PATIENCE, ended).await {
        Ok(callbacks) => callbacks,
        Err(_) => panic!(
            "the callback never ended: {:?}",
            flowd.store.callbacks(None, 10).await
        ),
    };
    assert_eq!(callbacks[0].status, "done", "{callbacks:?}");

    let customer = customer.finish().await;
    customer.assert_success("customer");
    let phone = phone.finish().await;
    phone.assert_success("agent");
    let invite = received_request(&customer.messages, "INVITE");
    assert!(
        invite.starts_with(&format!(
            "INVITE sip:{CALLER}@127.0.0.1:{}",
            ports.caller_sip(1)
        )),
        "the customer is not called through the trunk:\n{invite}"
    );
    assert_eq!(callbacks.len(), 1, "{callbacks:?}");
    assert_eq!(callbacks[0].agent.as_deref(), Some("ana"), "{callbacks:?}");
    assert!(callbacks[0].outcome.is_some(), "{callbacks:?}");
    flowd.wait_idle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_rings_agent_then_customer() {
    let ports = ports(15);
    let mut flowd = request_callback("callback", ports).await;
    callback_completes(&mut flowd, ports).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_survives_restart() {
    let ports = ports(16);
    let mut flowd = request_callback("callback-restart", ports).await;
    flowd.restart().await;
    callback_completes(&mut flowd, ports).await;
}

/// Returns the SIP Call-ID of the first message in a SIPp trace.
fn call_id(messages: &str) -> &str {
    messages
        .lines()
        .find_map(|line| line.strip_prefix("Call-ID: "))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no Call-ID in the trace:\n{messages}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn position_and_wait_announced() {
    let ports = ports(17);
    let files = queue_files(
        "  strategy linear\n  music \"hold-music\"\n  announce position and wait every 10s\n  overflow hangup\n",
        "  enqueue q\n",
    );
    let agents = [agent("ana", Some(ports.agent_sip(0)), &[])];
    let mut flowd = Flowd::start("announce", ports, &files, RING_3S, &agents).await;
    let caller_peer = RtpPeer::start(ports.caller_rtp(), 0x1a).await;
    let phone = spawn_agent(
        "agent_answer.xml",
        ports,
        ports.agent_sip(0),
        0,
        1,
        Duration::ZERO,
    );
    flowd.ready(&["ana"]).await;
    // The first caller talks to ana for 25 s; the second waits 15 s
    // behind them, then hangs up.
    let talking = spawn_caller(
        "caller_bye.xml",
        &flowd,
        ports,
        0,
        1,
        "+38640000001",
        SERVICE,
        Duration::from_secs(25),
    );
    flowd.wait_state("ana", "on_call").await;
    let waiting = spawn_caller(
        "caller_bye.xml",
        &flowd,
        ports,
        1,
        2,
        "+38640000002",
        SERVICE,
        Duration::from_secs(15),
    );
    let waiting = waiting.finish().await;
    waiting.assert_success("waiting caller");
    let row = flowd.next_call().await;
    assert_eq!(row.outcome.as_deref(), Some("abandoned"), "{row:?}");
    talking.finish().await.assert_success("talking caller");
    phone.finish().await.assert_success("agent");
    flowd.wait_idle().await;
    let audio = caller_peer.finish().await;
    assert!(audio.loud > 100, "the callers heard nothing: {audio:?}");

    let id = call_id(&waiting.messages);
    let announcements = log_lines(&["queue announcement", id]);
    assert!(
        announcements.len() >= 2,
        "expected an announcement at entry and one 10 s later for call {id}:\n{}",
        announcements.join("\n")
    );
    // At entry: the position (next in line) and the wait.
    assert!(
        announcements[0].contains("queue-next"),
        "{}",
        announcements[0]
    );
    assert!(
        announcements[0].contains("wait-intro"),
        "{}",
        announcements[0]
    );
    // 10 s later the position has not changed, so only the wait is announced.
    assert!(
        !announcements[1].contains("queue-next"),
        "the unchanged position was announced again: {}",
        announcements[1]
    );
    assert!(
        announcements[1].contains("wait-intro"),
        "{}",
        announcements[1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridged_call_recorded_in_stereo() {
    let ports = ports(18);
    let files = queue_files(
        "  strategy linear\n  music \"hold-music\"\n  overflow hangup\n",
        "  record on\n  enqueue q\n",
    );
    let agents = [agent("ana", Some(ports.agent_sip(0)), &[])];
    let mut flowd = Flowd::start("recording", ports, &files, RING_3S, &agents).await;
    let agent_peer = RtpPeer::start(ports.agent_rtp(), 0x25).await;
    let caller_peer = RtpPeer::start(ports.caller_rtp(), 0x1a).await;
    let phone = spawn_agent(
        "agent_answer.xml",
        ports,
        ports.agent_sip(0),
        0,
        1,
        Duration::ZERO,
    );
    flowd.ready(&["ana"]).await;
    let caller = spawn_caller(
        "caller_bye.xml",
        &flowd,
        ports,
        0,
        1,
        CALLER,
        SERVICE,
        Duration::from_secs(5),
    );
    caller.finish().await.assert_success("caller");
    phone.finish().await.assert_success("agent");
    let row = flowd.next_call().await;
    assert_eq!(agent_of(&row), "ana", "{row:?}");
    flowd.wait_idle().await;
    agent_peer.finish().await;
    caller_peer.finish().await;

    let recordings = flowd.recordings();
    assert_eq!(recordings.len(), 1, "recordings: {recordings:?}");
    assert!(row.recording.is_some(), "{row:?}");
    let (left, right) = stereo_channels(&recordings[0]);
    assert_eq!(left.len(), right.len());
    assert!(loud_samples(&left) > 8000, "the caller's channel is silent");
    assert!(loud_samples(&right) > 8000, "the agent's channel is silent");
    // The file covers the whole talk time, give or take a second.
    let seconds = left.len() / 8000;
    let talk = usize::try_from(row.talk_ms / 1000).unwrap();
    assert!(
        seconds + 1 >= talk,
        "the recording has {seconds} s of a {talk} s talk"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overflow_runs_else_arm() {
    let ports = ports(19);
    let files = queue_files(
        "  strategy linear\n  max wait 3s\n  max callers 1\n",
        "  enqueue q else {\n    tag \"overflowed\"\n    hangup\n  }\n",
    );
    let agents = [agent("ana", Some(ports.agent_sip(0)), &[])];
    let mut flowd = Flowd::start("overflow", ports, &files, RING_3S, &agents).await;
    flowd.pause("ana").await;
    // The first caller waits until `max wait`; the second finds the queue
    // full. Both scenarios end only after flowd's BYE.
    let waiting = spawn_caller(
        "caller_await_bye.xml",
        &flowd,
        ports,
        0,
        1,
        "+38640000001",
        SERVICE,
        Duration::ZERO,
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rejected = spawn_caller(
        "caller_await_bye.xml",
        &flowd,
        ports,
        1,
        2,
        "+38640000002",
        SERVICE,
        Duration::ZERO,
    );
    rejected
        .finish()
        .await
        .assert_success("caller finding the queue full");
    waiting
        .finish()
        .await
        .assert_success("caller waiting for max wait");

    let mut rows = vec![flowd.next_call().await, flowd.next_call().await];
    rows.sort_by_key(|row| row.caller.clone());
    for row in &rows {
        assert_eq!(row.outcome.as_deref(), Some("overflow"), "{row:?}");
        assert!(
            row.tags.iter().any(|tag| tag.tag == "overflowed"),
            "the enqueue's else arm did not run: {row:?}"
        );
    }
    assert!(
        rows[0].wait_ms >= 2900,
        "max wait overflowed early: {:?}",
        rows[0]
    );
    assert!(
        rows[1].wait_ms < 2900,
        "a full queue kept the caller waiting: {:?}",
        rows[1]
    );
    flowd.wait_idle().await;
}

/// Answers every INVITE on `port` with 486 Busy Here until the ACK of one
/// arrives, and returns the request methods received.
async fn busy_phone(port: u16) -> tokio::task::JoinHandle<Vec<String>> {
    let socket = tokio::net::UdpSocket::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move {
        let mut methods = Vec::new();
        let mut buffer = vec![0u8; 8192];
        loop {
            let (length, from) = tokio::time::timeout(PATIENCE, socket.recv_from(&mut buffer))
                .await
                .expect("no request reached the busy phone")
                .unwrap();
            let request = String::from_utf8_lossy(&buffer[..length]).into_owned();
            let method = request.split(' ').next().unwrap_or_default().to_string();
            methods.push(method.clone());
            if method == "ACK" {
                return methods;
            }
            if method != "INVITE" {
                continue;
            }
            let mut response = String::from("SIP/2.0 486 Busy Here\r\n");
            for name in ["Via", "From", "Call-ID", "CSeq"] {
                response.push_str(&format!("{name}: {}\r\n", header(&request, name)));
            }
            response.push_str(&format!("To: {};tag=busy1\r\n", header(&request, "To")));
            response.push_str("Content-Length: 0\r\n\r\n");
            socket.send_to(response.as_bytes(), from).await.unwrap();
        }
    })
}

/// Returns the value of the first header `name` of a SIP message.
fn header<'a>(message: &'a str, name: &str) -> &'a str {
    let prefix = format!("{}:", name.to_ascii_lowercase());
    message
        .lines()
        .find(|line| line.to_ascii_lowercase().starts_with(&prefix))
        .map(|line| line[prefix.len()..].trim())
        .unwrap_or_else(|| panic!("no {name} in:\n{message}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_agent_tries_next() {
    // The last block, 24980-24999, has room for two SIPps: media slots 0
    // and 1.
    let ports = ports(20);
    let mut flowd = strategy_flowd(
        "busy",
        ports,
        &strategy_files("linear"),
        &["ana", "bor"],
        &[],
    )
    .await;
    let busy = busy_phone(ports.agent_sip(0)).await;
    let phone = spawn_agent(
        "agent_answer.xml",
        ports,
        ports.agent_sip(1),
        0,
        1,
        Duration::ZERO,
    );
    flowd.ready(&["ana", "bor"]).await;
    let caller = spawn_caller(
        "caller_bye.xml",
        &flowd,
        ports,
        0,
        1,
        CALLER,
        SERVICE,
        Duration::from_secs(3),
    );
    let methods = tokio::time::timeout(PATIENCE, busy)
        .await
        .expect("the busy phone never got its ACK")
        .unwrap();
    assert_eq!(
        methods.first().map(String::as_str),
        Some("INVITE"),
        "{methods:?}"
    );
    caller.finish().await.assert_success("caller");
    phone.finish().await.assert_success("agent bor");
    let row = flowd.next_call().await;
    assert_eq!(agent_of(&row), "bor", "{row:?}");
    // A busy phone is no missed call: ana stays ready.
    flowd.wait_live_state("ana", &AgentState::Ready).await;
    flowd.wait_state("ana", "ready").await;
    let history = states(&flowd.history("ana").await);
    assert!(
        !history.iter().any(|state| state.starts_with("paused")),
        "ana was paused for a busy phone: {history:?}"
    );
    flowd.wait_idle().await;
}
