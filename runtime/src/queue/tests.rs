#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;
use flowc::bytecode::{Queue, QueueNeed, RelaxStep, ServiceTarget};
use flowc::syntax::ast::Strategy;
use proptest::prelude::{any, prop_assert, prop_assert_eq, prop_oneof, proptest};
use proptest::strategy::Strategy as _;
use std::collections::HashMap;

fn queue(name: &str, strategy: Strategy) -> Queue {
    Queue {
        name: name.to_owned(),
        strategy,
        needs: Vec::new(),
        relax: Vec::new(),
        sticky_ms: None,
        priority: None,
        target: None,
        announcements: Vec::new(),
        music: "hold-music".to_owned(),
        callback: None,
        max_wait_ms: None,
        max_callers: None,
        overflow: None,
        wrapup_ms: 0,
    }
}

fn skill(name: &str, level: u32) -> QueueNeed {
    QueueNeed::Skill {
        skill: name.to_owned(),
        level,
    }
}

fn agent(id: &str, skills: &[(&str, u32)], languages: &[&str]) -> AgentSpec {
    AgentSpec {
        id: id.to_owned(),
        skills: skills.iter().map(|(s, l)| ((*s).to_owned(), *l)).collect(),
        languages: languages.iter().map(|l| (*l).to_owned()).collect(),
    }
}

fn caller(id: CallerId, priority: i64, at: u64) -> CallerSpec {
    CallerSpec {
        id,
        priority,
        language: "sl".to_owned(),
        sticky_agent: None,
        entered_at_ms: at,
    }
}

/// Builds an engine with one queue and agents `ids` without skills, added
/// and made ready in order at times 0, 1, 2, ...
fn engine_with(q: Queue, ids: &[&str]) -> Engine {
    let mut engine = Engine::new(7);
    engine.set_queue(&q);
    for (i, id) in ids.iter().enumerate() {
        engine.upsert_agent(agent(id, &[], &["sl"]), 0);
        engine
            .set_agent_state(id, AgentState::Ready, i as u64)
            .unwrap();
    }
    assert!(engine.dispatch(100).is_empty());
    engine
}

fn single(offers: &[Offer]) -> (CallerId, String) {
    assert_eq!(offers.len(), 1, "offers: {offers:?}");
    assert_eq!(offers[0].agents.len(), 1, "offers: {offers:?}");
    (offers[0].caller, offers[0].agents[0].clone())
}

/// Offers one caller and returns the agent picked, then answers and ends
/// the call so the agent is ready again.
fn route_one(engine: &mut Engine, id: CallerId, now: u64) -> String {
    engine.enqueue("q", caller(id, 0, now), now).unwrap();
    let (_, picked) = single(&engine.dispatch(now));
    engine.offer_result(id, &picked, OfferResult::Answered, now);
    picked
}

#[test]
fn longest_idle_picks_oldest_ready() {
    let mut engine = engine_with(queue("q", Strategy::LongestIdle), &["a", "b", "c"]);
    assert_eq!(route_one(&mut engine, 1, 1000), "a");
    engine.call_ended("a", 10, 1100);
    assert_eq!(route_one(&mut engine, 2, 1200), "b");
    engine.call_ended("b", 10, 1300);
    // c has been idle since 2, a since 1100, b since 1300.
    assert_eq!(route_one(&mut engine, 3, 1400), "c");
    engine.call_ended("c", 10, 1500);
    assert_eq!(route_one(&mut engine, 4, 1600), "a");
}

#[test]
fn least_busy_picks_lowest_occupancy() {
    let mut engine = engine_with(queue("q", Strategy::LeastBusy), &["a", "b"]);
    assert_eq!(route_one(&mut engine, 1, 1000), "a");
    engine.call_ended("a", 900, 1900);
    // a talked 900 of 1900 ms, b none.
    assert_eq!(route_one(&mut engine, 2, 2000), "b");
    engine.call_ended("b", 100, 2100);
    // b talked 100 of 2100 ms, less than a.
    assert_eq!(route_one(&mut engine, 3, 2200), "b");
}

#[test]
fn fewest_calls_picks_fewest_answered() {
    let mut engine = engine_with(queue("q", Strategy::FewestCalls), &["a", "b", "c"]);
    assert_eq!(route_one(&mut engine, 1, 1000), "a");
    engine.call_ended("a", 10, 1010);
    assert_eq!(route_one(&mut engine, 2, 1020), "b");
    engine.call_ended("b", 10, 1030);
    assert_eq!(route_one(&mut engine, 3, 1040), "c");
    engine.call_ended("c", 10, 1050);
    // Everyone has one call; a has been idle longest.
    assert_eq!(route_one(&mut engine, 4, 1060), "a");
}

#[test]
fn round_robin_remembers_last_offered() {
    let mut engine = engine_with(queue("q", Strategy::RoundRobin), &["a", "b", "c"]);
    let mut picked = Vec::new();
    for id in 1..=4 {
        let agent = route_one(&mut engine, id, 1000 + id);
        engine.call_ended(&agent, 1, 1000 + id);
        picked.push(agent);
    }
    assert_eq!(picked, ["a", "b", "c", "a"]);
    // With b paused, the turn after a skips to c.
    engine
        .set_agent_state("b", AgentState::Paused("lunch".into()), 2000)
        .unwrap();
    assert_eq!(route_one(&mut engine, 5, 2001), "c");
}

#[test]
fn linear_always_starts_first() {
    let mut engine = engine_with(queue("q", Strategy::Linear), &["a", "b", "c"]);
    for id in 1..=3 {
        let agent = route_one(&mut engine, id, 1000 + id);
        assert_eq!(agent, "a");
        engine.call_ended(&agent, 1, 1000 + id);
    }
    // While a is on a call, b is first.
    engine.enqueue("q", caller(10, 0, 2000), 2000).unwrap();
    let (_, first) = single(&engine.dispatch(2000));
    assert_eq!(first, "a");
    engine.offer_result(10, "a", OfferResult::Answered, 2000);
    assert_eq!(route_one(&mut engine, 11, 2001), "b");
}

#[test]
fn random_is_seeded_and_spreads() {
    let picks = |seed: u64| {
        let mut engine = Engine::new(seed);
        engine.set_queue(&queue("q", Strategy::Random));
        for id in ["a", "b", "c", "d"] {
            engine.upsert_agent(agent(id, &[], &["sl"]), 0);
            engine.set_agent_state(id, AgentState::Ready, 0).unwrap();
        }
        let mut picked = Vec::new();
        for id in 1..=40 {
            let agent = route_one(&mut engine, id, id);
            engine.call_ended(&agent, 1, id);
            picked.push(agent);
        }
        picked
    };
    assert_eq!(picks(1), picks(1));
    let picked = picks(1);
    for id in ["a", "b", "c", "d"] {
        assert!(picked.iter().any(|p| p == id), "{id} never picked");
    }
}

#[test]
fn ring_all_rings_every_eligible_agent() {
    let mut engine = engine_with(queue("q", Strategy::RingAll), &["a", "b", "c"]);
    engine.enqueue("q", caller(1, 0, 1000), 1000).unwrap();
    let offers = engine.dispatch(1000);
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].agents, ["a", "b", "c"]);
    engine.offer_result(1, "b", OfferResult::Answered, 1100);
    assert_eq!(engine.agent_state("a").unwrap().0, AgentState::Ready);
    assert_eq!(engine.agent_state("b").unwrap().0, AgentState::OnCall);
    assert_eq!(engine.agent_state("c").unwrap().0, AgentState::Ready);
    assert_eq!(engine.position(1), None);
}

#[test]
fn ring_all_caller_waits_until_all_fail() {
    let mut engine = engine_with(queue("q", Strategy::RingAll), &["a", "b"]);
    engine.enqueue("q", caller(1, 0, 1000), 1000).unwrap();
    assert_eq!(engine.dispatch(1000)[0].agents, ["a", "b"]);
    engine.offer_result(1, "a", OfferResult::NoAnswer, 1100);
    assert!(engine.dispatch(1100).is_empty());
    engine.offer_result(1, "b", OfferResult::NoAnswer, 1100);
    assert!(engine.dispatch(1100).is_empty());
    assert_eq!(engine.position(1), Some(1));
    engine
        .set_agent_state("a", AgentState::Ready, 1200)
        .unwrap();
    assert_eq!(single(&engine.dispatch(1200)), (1, "a".to_owned()));
}

#[test]
fn skills_and_language_decide_eligibility() {
    let mut q = queue("q", Strategy::Linear);
    q.needs = vec![QueueNeed::Language, skill("routers", 2)];
    let mut engine = Engine::new(1);
    engine.set_queue(&q);
    engine.upsert_agent(agent("low", &[("routers", 1)], &["sl"]), 0);
    engine.upsert_agent(agent("english", &[("routers", 3)], &["en"]), 0);
    engine.upsert_agent(agent("fit", &[("routers", 2)], &["SL", "en"]), 0);
    for id in ["low", "english", "fit"] {
        engine.set_agent_state(id, AgentState::Ready, 0).unwrap();
    }
    engine.enqueue("q", caller(1, 0, 10), 10).unwrap();
    assert_eq!(single(&engine.dispatch(10)), (1, "fit".to_owned()));
    let mut german = caller(2, 0, 20);
    german.language = "de".into();
    assert_eq!(engine.enqueue("q", german, 20), Err(EnqueueError::NoAgents));
}

#[test]
fn relax_lowers_level_after_wait() {
    let mut q = queue("q", Strategy::Linear);
    q.needs = vec![skill("routers", 2)];
    q.relax = vec![RelaxStep {
        after_ms: 90_000,
        skill: "routers".into(),
        level: Some(1),
    }];
    let mut engine = Engine::new(1);
    engine.set_queue(&q);
    engine.upsert_agent(agent("low", &[("routers", 1)], &["sl"]), 0);
    engine.upsert_agent(agent("high", &[("routers", 2)], &["sl"]), 0);
    engine.set_agent_state("low", AgentState::Ready, 0).unwrap();
    engine
        .set_agent_state("high", AgentState::OnCall, 0)
        .unwrap();
    engine.enqueue("q", caller(1, 0, 1000), 1000).unwrap();
    assert!(engine.dispatch(1000).is_empty());
    assert_eq!(engine.next_deadline(), Some(91_000));
    assert!(engine.dispatch(90_999).is_empty());
    assert_eq!(single(&engine.dispatch(91_000)), (1, "low".to_owned()));
}

#[test]
fn drop_removes_skill_after_wait() {
    let mut q = queue("q", Strategy::Linear);
    q.needs = vec![skill("routers", 2)];
    q.relax = vec![
        RelaxStep {
            after_ms: 180_000,
            skill: "routers".into(),
            level: None,
        },
        RelaxStep {
            after_ms: 90_000,
            skill: "routers".into(),
            level: Some(1),
        },
    ];
    let mut engine = Engine::new(1);
    engine.set_queue(&q);
    engine.upsert_agent(agent("none", &[], &["sl"]), 0);
    engine.upsert_agent(agent("high", &[("routers", 2)], &["sl"]), 0);
    engine
        .set_agent_state("none", AgentState::Ready, 0)
        .unwrap();
    engine
        .set_agent_state("high", AgentState::OnCall, 0)
        .unwrap();
    engine.enqueue("q", caller(1, 0, 0), 0).unwrap();
    assert!(engine.dispatch(0).is_empty());
    assert!(engine.dispatch(90_000).is_empty());
    assert_eq!(engine.next_deadline(), Some(180_000));
    assert_eq!(single(&engine.dispatch(180_000)), (1, "none".to_owned()));
}

#[test]
fn relax_uses_own_entry_time() {
    let mut q = queue("q", Strategy::Linear);
    q.needs = vec![skill("routers", 2)];
    q.relax = vec![RelaxStep {
        after_ms: 60_000,
        skill: "routers".into(),
        level: Some(1),
    }];
    let mut engine = Engine::new(1);
    engine.set_queue(&q);
    engine.upsert_agent(agent("low", &[("routers", 1)], &["sl"]), 0);
    engine.upsert_agent(agent("high", &[("routers", 2)], &["sl"]), 0);
    engine
        .set_agent_state("high", AgentState::OnCall, 0)
        .unwrap();
    // A restored callback entered long ago is relaxed at once.
    engine.enqueue("q", caller(1, 0, 0), 100_000).unwrap();
    engine.enqueue("q", caller(2, 0, 100_000), 100_000).unwrap();
    engine
        .set_agent_state("low", AgentState::Ready, 100_000)
        .unwrap();
    assert_eq!(single(&engine.dispatch(100_000)), (1, "low".to_owned()));
}

fn sticky_engine() -> Engine {
    let mut q = queue("q", Strategy::Linear);
    q.sticky_ms = Some(20_000);
    engine_with(q, &["a", "b"])
}

fn sticky_caller(id: CallerId, agent: &str, at: u64) -> CallerSpec {
    CallerSpec {
        sticky_agent: Some(agent.to_owned()),
        ..caller(id, 0, at)
    }
}

#[test]
fn sticky_agent_gets_call_when_ready() {
    let mut engine = sticky_engine();
    engine
        .enqueue("q", sticky_caller(1, "b", 1000), 1000)
        .unwrap();
    assert_eq!(single(&engine.dispatch(1000)), (1, "b".to_owned()));
}

#[test]
fn sticky_caller_waits_for_busy_agent() {
    let mut engine = sticky_engine();
    engine
        .set_agent_state("b", AgentState::OnCall, 500)
        .unwrap();
    engine
        .enqueue("q", sticky_caller(1, "b", 1000), 1000)
        .unwrap();
    assert!(engine.dispatch(1000).is_empty());
    assert_eq!(engine.next_deadline(), Some(21_000));
    // b returns within the sticky time.
    engine.call_ended("b", 1, 5000);
    assert_eq!(single(&engine.dispatch(5000)), (1, "b".to_owned()));
}

#[test]
fn sticky_expires_to_normal_rule() {
    let mut engine = sticky_engine();
    engine
        .set_agent_state("b", AgentState::OnCall, 500)
        .unwrap();
    engine
        .enqueue("q", sticky_caller(1, "b", 1000), 1000)
        .unwrap();
    assert!(engine.dispatch(20_999).is_empty());
    assert_eq!(single(&engine.dispatch(21_000)), (1, "a".to_owned()));
}

#[test]
fn sticky_ignored_when_agent_logged_out() {
    let mut engine = sticky_engine();
    engine
        .set_agent_state("b", AgentState::LoggedOut, 500)
        .unwrap();
    engine
        .enqueue("q", sticky_caller(1, "b", 1000), 1000)
        .unwrap();
    assert_eq!(single(&engine.dispatch(1000)), (1, "a".to_owned()));
}

#[test]
fn sticky_released_when_agent_logs_out() {
    let mut engine = sticky_engine();
    engine
        .set_agent_state("b", AgentState::OnCall, 500)
        .unwrap();
    engine
        .enqueue("q", sticky_caller(1, "b", 1000), 1000)
        .unwrap();
    assert!(engine.dispatch(1000).is_empty());
    engine
        .set_agent_state("b", AgentState::LoggedOut, 2000)
        .unwrap();
    assert_eq!(single(&engine.dispatch(2000)), (1, "a".to_owned()));
}

#[test]
fn sticky_ends_when_agent_does_not_answer() {
    let mut engine = sticky_engine();
    engine
        .enqueue("q", sticky_caller(1, "b", 1000), 1000)
        .unwrap();
    assert_eq!(single(&engine.dispatch(1000)), (1, "b".to_owned()));
    engine.offer_result(1, "b", OfferResult::NoAnswer, 2000);
    assert_eq!(single(&engine.dispatch(2000)), (1, "a".to_owned()));
}

#[test]
fn sticky_ignored_when_agent_ineligible() {
    let mut q = queue("q", Strategy::Linear);
    q.sticky_ms = Some(20_000);
    q.needs = vec![skill("routers", 2)];
    let mut engine = Engine::new(1);
    engine.set_queue(&q);
    engine.upsert_agent(agent("a", &[("routers", 2)], &["sl"]), 0);
    engine.upsert_agent(agent("b", &[("routers", 1)], &["sl"]), 0);
    engine.set_agent_state("a", AgentState::Ready, 0).unwrap();
    engine.set_agent_state("b", AgentState::Ready, 0).unwrap();
    engine
        .enqueue("q", sticky_caller(1, "b", 1000), 1000)
        .unwrap();
    assert_eq!(single(&engine.dispatch(1000)), (1, "a".to_owned()));
}

#[test]
fn priority_overtakes_lower_callers() {
    let mut engine = engine_with(queue("q", Strategy::Linear), &["a"]);
    engine.set_agent_state("a", AgentState::OnCall, 0).unwrap();
    engine.enqueue("q", caller(1, 0, 1000), 1000).unwrap();
    engine.enqueue("q", caller(2, 0, 2000), 2000).unwrap();
    engine.enqueue("q", caller(3, 100, 3000), 3000).unwrap();
    engine.enqueue("q", caller(4, 0, 2000), 3000).unwrap();
    assert_eq!(engine.position(3), Some(1));
    assert_eq!(engine.position(1), Some(2));
    assert_eq!(engine.position(2), Some(3));
    assert_eq!(engine.position(4), Some(4));
    let mut order = Vec::new();
    engine
        .set_agent_state("a", AgentState::Ready, 4000)
        .unwrap();
    for now in 4000..4004 {
        let (id, _) = single(&engine.dispatch(now));
        order.push(id);
        engine.offer_result(id, "a", OfferResult::Answered, now);
        engine.call_ended("a", 1, now);
    }
    assert_eq!(order, [3, 1, 2, 4]);
}

#[test]
fn agent_serves_best_caller_across_queues() {
    let mut engine = Engine::new(1);
    engine.set_queue(&queue("sales", Strategy::Linear));
    engine.set_queue(&queue("support", Strategy::Linear));
    engine.upsert_agent(agent("a", &[], &["sl"]), 0);
    engine.set_agent_state("a", AgentState::OnCall, 0).unwrap();
    engine.enqueue("sales", caller(1, 0, 1000), 1000).unwrap();
    engine.enqueue("support", caller(2, 0, 500), 1000).unwrap();
    engine.enqueue("support", caller(3, 5, 2000), 2000).unwrap();
    engine.call_ended("a", 1, 3000);
    assert_eq!(single(&engine.dispatch(3000)).0, 3);
    engine.offer_result(3, "a", OfferResult::Answered, 3000);
    engine.call_ended("a", 1, 3001);
    assert_eq!(single(&engine.dispatch(3001)).0, 2);
}

#[test]
fn later_caller_never_overtakes_when_both_eligible() {
    // Caller 1 needs level 2, caller 2 (later) only gets there after a
    // relax step; an agent with level 2 takes caller 1 first.
    let mut q = queue("q", Strategy::Linear);
    q.needs = vec![QueueNeed::Language];
    let mut engine = Engine::new(1);
    engine.set_queue(&q);
    engine.upsert_agent(agent("both", &[], &["sl", "en"]), 0);
    engine.upsert_agent(agent("english", &[], &["en"]), 0);
    engine
        .set_agent_state("both", AgentState::OnCall, 0)
        .unwrap();
    engine
        .set_agent_state("english", AgentState::OnCall, 0)
        .unwrap();
    engine.enqueue("q", caller(1, 0, 1000), 1000).unwrap();
    let mut english = caller(2, 0, 2000);
    english.language = "en".into();
    engine.enqueue("q", english, 2000).unwrap();
    engine.call_ended("both", 1, 3000);
    assert_eq!(single(&engine.dispatch(3000)), (1, "both".to_owned()));
    engine.call_ended("english", 1, 3001);
    assert_eq!(single(&engine.dispatch(3001)), (2, "english".to_owned()));
}

#[test]
fn full_queue_rejects_caller() {
    let mut q = queue("q", Strategy::Linear);
    q.max_callers = Some(2);
    let mut engine = engine_with(q, &["a"]);
    engine.set_agent_state("a", AgentState::OnCall, 0).unwrap();
    engine.enqueue("q", caller(1, 0, 0), 0).unwrap();
    engine.enqueue("q", caller(2, 0, 0), 0).unwrap();
    assert_eq!(
        engine.enqueue("q", caller(3, 0, 0), 0),
        Err(EnqueueError::Full)
    );
    assert_eq!(
        engine.enqueue("nope", caller(4, 0, 0), 0),
        Err(EnqueueError::UnknownQueue)
    );
}

#[test]
fn no_agents_when_all_logged_out() {
    let mut engine = engine_with(queue("q", Strategy::Linear), &["a"]);
    engine
        .set_agent_state("a", AgentState::LoggedOut, 0)
        .unwrap();
    assert_eq!(
        engine.enqueue("q", caller(1, 0, 0), 0),
        Err(EnqueueError::NoAgents)
    );
    engine
        .set_agent_state("a", AgentState::Paused("break".into()), 0)
        .unwrap();
    assert_eq!(engine.enqueue("q", caller(1, 0, 0), 0), Ok(()));
}

#[test]
fn no_answer_pauses_agent_and_keeps_place() {
    let mut engine = engine_with(queue("q", Strategy::Linear), &["a", "b"]);
    engine.set_agent_state("b", AgentState::OnCall, 0).unwrap();
    engine.enqueue("q", caller(1, 0, 1000), 1000).unwrap();
    assert_eq!(single(&engine.dispatch(1000)), (1, "a".to_owned()));
    engine.enqueue("q", caller(2, 0, 2000), 2000).unwrap();
    assert!(engine.dispatch(2000).is_empty());
    engine.offer_result(1, "a", OfferResult::NoAnswer, 16_000);
    assert_eq!(
        engine.agent_state("a").unwrap(),
        (AgentState::Paused("no answer".into()), 16_000)
    );
    assert_eq!(engine.position(1), Some(1));
    engine.call_ended("b", 1, 17_000);
    assert_eq!(single(&engine.dispatch(17_000)), (1, "b".to_owned()));
}

#[test]
fn busy_agent_skipped_for_that_caller() {
    let mut engine = engine_with(queue("q", Strategy::Linear), &["a"]);
    engine.enqueue("q", caller(1, 0, 1000), 1000).unwrap();
    assert_eq!(single(&engine.dispatch(1000)), (1, "a".to_owned()));
    engine.offer_result(1, "a", OfferResult::Busy, 1100);
    assert_eq!(engine.agent_state("a").unwrap().0, AgentState::Ready);
    assert!(engine.dispatch(1100).is_empty());
    // Another caller may take the agent at once.
    engine.enqueue("q", caller(2, 0, 1200), 1200).unwrap();
    assert_eq!(single(&engine.dispatch(1200)), (2, "a".to_owned()));
    engine.offer_result(2, "a", OfferResult::Failed, 1300);
    assert!(engine.dispatch(1300).is_empty());
    let due = 1100 + SKIP_AFTER_BUSY_MS;
    assert_eq!(engine.next_deadline(), Some(due));
    assert_eq!(single(&engine.dispatch(due)), (1, "a".to_owned()));
}

#[test]
fn abandon_while_ringing_frees_agent() {
    let mut engine = engine_with(queue("q", Strategy::Linear), &["a"]);
    engine.enqueue("q", caller(1, 0, 1000), 1000).unwrap();
    assert_eq!(single(&engine.dispatch(1000)), (1, "a".to_owned()));
    assert!(engine.remove_caller(1, 2000, Leave::Abandoned));
    assert!(!engine.remove_caller(1, 2000, Leave::Abandoned));
    assert_eq!(engine.agent_state("a").unwrap().0, AgentState::Ready);
    let live = engine.queue_live("q", 2000).unwrap();
    assert_eq!(live.abandoned, 1);
    assert_eq!(live.waiting, 0);
}

#[test]
fn wrap_up_then_ready_automatically() {
    let mut q = queue("q", Strategy::Linear);
    q.wrapup_ms = 30_000;
    let mut engine = engine_with(q, &["a"]);
    engine.enqueue("q", caller(1, 0, 1000), 1000).unwrap();
    single(&engine.dispatch(1000));
    engine.offer_result(1, "a", OfferResult::Answered, 2000);
    engine.enqueue("q", caller(2, 0, 3000), 3000).unwrap();
    engine.call_ended("a", 60_000, 62_000);
    assert_eq!(engine.agent_state("a").unwrap().0, AgentState::WrapUp);
    assert!(engine.dispatch(62_000).is_empty());
    assert_eq!(engine.next_deadline(), Some(92_000));
    assert_eq!(single(&engine.dispatch(92_000)), (2, "a".to_owned()));
    let live = engine.queue_live("q", 92_000).unwrap();
    assert_eq!(live.average_handling_ms, 90_000);
}

#[test]
fn estimated_wait_uses_position_and_staff() {
    let mut engine = engine_with(queue("q", Strategy::Linear), &["a", "b"]);
    engine.set_agent_state("a", AgentState::OnCall, 0).unwrap();
    engine.set_agent_state("b", AgentState::OnCall, 0).unwrap();
    for id in 1..=3 {
        engine.enqueue("q", caller(id, 0, id), 10).unwrap();
    }
    // Default handling time 180 s, two staffed agents.
    assert_eq!(engine.estimated_wait_ms(1, 10), Some(90_000));
    assert_eq!(engine.estimated_wait_ms(2, 10), Some(180_000));
    assert_eq!(engine.estimated_wait_ms(3, 10), Some(270_000));
    engine
        .set_agent_state("b", AgentState::Paused("break".into()), 10)
        .unwrap();
    assert_eq!(engine.estimated_wait_ms(3, 10), Some(540_000));
    let live = engine.queue_live("q", 10).unwrap();
    assert_eq!(live.estimated_wait_ms, Some(720_000));
    engine
        .set_agent_state("a", AgentState::Paused("break".into()), 10)
        .unwrap();
    assert_eq!(engine.estimated_wait_ms(1, 10), None);
}

#[test]
fn handling_time_is_weighted_average() {
    let mut engine = engine_with(queue("q", Strategy::Linear), &["a"]);
    route_one(&mut engine, 1, 0);
    engine.call_ended("a", 100_000, 100_000);
    route_one(&mut engine, 2, 100_000);
    engine.call_ended("a", 200_000, 300_000);
    // 100 s, then 100 + 0.2 * (200 - 100) = 120 s.
    let live = engine.queue_live("q", 300_000).unwrap();
    assert_eq!(live.average_handling_ms, 120_000);
}

#[test]
fn service_level_counts_answered_within_target() {
    let mut q = queue("q", Strategy::Linear);
    q.target = Some(ServiceTarget {
        percent: 80.0,
        within_ms: 20_000,
    });
    let mut engine = engine_with(q, &["a"]);
    engine.enqueue("q", caller(1, 0, 0), 0).unwrap();
    single(&engine.dispatch(0));
    engine.offer_result(1, "a", OfferResult::Answered, 10_000);
    engine.call_ended("a", 1, 10_000);
    engine.enqueue("q", caller(2, 0, 10_000), 10_000).unwrap();
    single(&engine.dispatch(10_000));
    engine.offer_result(2, "a", OfferResult::Answered, 40_000);
    engine.enqueue("q", caller(3, 0, 40_000), 40_000).unwrap();
    engine.enqueue("q", caller(4, 0, 40_000), 40_000).unwrap();
    assert!(engine.remove_caller(3, 50_000, Leave::Abandoned));
    assert!(engine.remove_caller(4, 50_000, Leave::Callback));
    let live = engine.queue_live("q", 50_000).unwrap();
    assert_eq!(live.answered, 2);
    assert_eq!(live.answered_within_target, 1);
    assert_eq!(live.abandoned, 1);
    assert_eq!(live.service_level, Some(100.0 / 3.0));
    assert_eq!(live.agents.on_call, 1);
    engine.reset_day(60_000);
    let live = engine.queue_live("q", 60_000).unwrap();
    assert_eq!(live.answered, 0);
    assert_eq!(live.service_level, None);
}

#[test]
fn live_state_reports_agents_and_waits() {
    let mut engine = engine_with(queue("q", Strategy::Linear), &["a", "b"]);
    engine.set_agent_state("b", AgentState::OnCall, 50).unwrap();
    engine.enqueue("q", caller(1, 0, 100), 100).unwrap();
    engine.enqueue("q", caller(2, 0, 200), 200).unwrap();
    single(&engine.dispatch(200));
    let live = engine.queue_live("q", 1100).unwrap();
    assert_eq!(live.waiting, 2);
    assert_eq!(live.longest_wait_ms, 1000);
    assert_eq!(live.agents.ringing, 1);
    assert_eq!(live.agents.on_call, 1);
    let agents = engine.agents_live(1100);
    assert_eq!(agents[0].id, "a");
    assert_eq!(agents[0].state, AgentState::Ringing);
    assert_eq!(agents[0].caller, Some(1));
    assert_eq!(agents[1].time_in_state_ms, 1050);
    let json = serde_json::to_value(&agents[0]).unwrap();
    assert_eq!(json["state"], "ringing");
    let paused = serde_json::to_value(AgentState::Paused("lunch".into())).unwrap();
    assert_eq!(paused, serde_json::json!({"paused": "lunch"}));
    assert_eq!(engine.queues_live(1100).len(), 1);
}

#[test]
fn engine_is_send_and_debug() {
    fn assert_send<T: Send + std::fmt::Debug>(_: &T) {}
    let engine = engine_with(queue("q", Strategy::Linear), &["a"]);
    assert_send(&engine);
    assert_eq!(
        format!("{engine:?}"),
        "Engine { queues: 1, agents: 1, callers: 0, timers: 0 }"
    );
}

#[test]
fn unknown_agent_is_error() {
    let mut engine = Engine::new(1);
    assert_eq!(
        engine.set_agent_state("x", AgentState::Ready, 0),
        Err(UnknownAgent("x".into()))
    );
    assert_eq!(engine.agent_state("x"), None);
}

#[test]
fn removed_agent_returns_caller_to_place() {
    let mut engine = engine_with(queue("q", Strategy::Linear), &["a", "b"]);
    engine.set_agent_state("b", AgentState::OnCall, 0).unwrap();
    engine.enqueue("q", caller(1, 0, 1000), 1000).unwrap();
    single(&engine.dispatch(1000));
    engine.remove_agent("a", 2000);
    assert_eq!(engine.agent_state("a"), None);
    assert_eq!(engine.position(1), Some(1));
    engine.call_ended("b", 1, 3000);
    assert_eq!(single(&engine.dispatch(3000)), (1, "b".to_owned()));
}

#[test]
fn set_queue_keeps_waiting_callers() {
    let mut engine = engine_with(queue("q", Strategy::Linear), &["a"]);
    engine.set_agent_state("a", AgentState::OnCall, 0).unwrap();
    engine.enqueue("q", caller(1, 0, 1000), 1000).unwrap();
    engine.enqueue("q", caller(2, 0, 2000), 2000).unwrap();
    let mut changed = queue("q", Strategy::RoundRobin);
    changed.max_callers = Some(5);
    engine.set_queue(&changed);
    assert_eq!(engine.position(2), Some(2));
    engine.call_ended("a", 1, 3000);
    assert_eq!(single(&engine.dispatch(3000)), (1, "a".to_owned()));
}

#[test]
fn upsert_new_skill_makes_agent_eligible() {
    let mut q = queue("q", Strategy::Linear);
    q.needs = vec![skill("sales", 1)];
    let mut engine = Engine::new(1);
    engine.set_queue(&q);
    engine.upsert_agent(agent("a", &[("sales", 1)], &["sl"]), 0);
    engine.upsert_agent(agent("b", &[], &["sl"]), 0);
    engine.set_agent_state("a", AgentState::OnCall, 0).unwrap();
    engine.set_agent_state("b", AgentState::Ready, 0).unwrap();
    engine.enqueue("q", caller(1, 0, 10), 10).unwrap();
    assert!(engine.dispatch(10).is_empty());
    engine.upsert_agent(agent("b", &[("sales", 2)], &["sl"]), 20);
    assert_eq!(engine.agent_state("b").unwrap().0, AgentState::Ready);
    assert_eq!(single(&engine.dispatch(20)), (1, "b".to_owned()));
}

/// Events of the property test.
#[derive(Clone, Debug)]
enum Event {
    Enqueue {
        queue: u8,
        priority: i64,
        language: bool,
    },
    Ready(u8),
    Pause(u8),
    Result {
        agent: u8,
        result: u8,
    },
    End(u8),
    Abandon(u8),
    Tick(u16),
}

fn event() -> impl proptest::strategy::Strategy<Value = Event> {
    prop_oneof![
        (0u8..2, 0i64..2, any::<bool>()).prop_map(|(queue, priority, language)| {
            Event::Enqueue {
                queue,
                priority,
                language,
            }
        }),
        (0u8..5).prop_map(Event::Ready),
        (0u8..5).prop_map(Event::Pause),
        (0u8..5, 0u8..4).prop_map(|(agent, result)| Event::Result { agent, result }),
        (0u8..5).prop_map(Event::End),
        (0u8..30).prop_map(Event::Abandon),
        (0u16..40_000).prop_map(Event::Tick),
    ]
}

proptest! {
    #[test]
    fn routing_invariants_hold(events in proptest::collection::vec(event(), 1..80)) {
        let mut sales = queue("q0", Strategy::RingAll);
        sales.needs = vec![QueueNeed::Language, skill("sales", 2)];
        sales.relax = vec![RelaxStep { after_ms: 20_000, skill: "sales".into(), level: Some(1) }];
        sales.wrapup_ms = 5_000;
        let mut support = queue("q1", Strategy::LongestIdle);
        support.needs = vec![skill("support", 1)];
        support.sticky_ms = Some(10_000);
        let mut engine = Engine::new(3);
        engine.set_queue(&sales);
        engine.set_queue(&support);
        let agents = ["a0", "a1", "a2", "a3", "a4"];
        for (i, id) in agents.iter().enumerate() {
            let level = (i as u32 % 2) + 1;
            let languages: &[&str] = if i % 3 == 0 { &["sl"] } else { &["sl", "en"] };
            engine.upsert_agent(agent(id, &[("sales", level), ("support", 1)], languages), 0);
            engine.set_agent_state(id, AgentState::Ready, 0).unwrap();
        }
        let mut now = 0u64;
        let mut next_id: CallerId = 0;
        // Which caller each agent rings for, from the offers.
        let mut ringing: HashMap<String, CallerId> = HashMap::new();
        // Callers by id: queue, priority, sequence number, language.
        let mut entered: HashMap<CallerId, (u8, i64, u64, bool)> = HashMap::new();
        let mut answered_keys: Vec<(u8, i64, u64, bool, String)> = Vec::new();
        for event in events {
            match event {
                Event::Enqueue { queue, priority, language } => {
                    next_id += 1;
                    let spec = CallerSpec {
                        id: next_id,
                        priority,
                        language: if language { "en".into() } else { "sl".into() },
                        sticky_agent: Some(agents[next_id as usize % 5].to_owned()),
                        entered_at_ms: now,
                    };
                    if engine.enqueue(&format!("q{queue}"), spec, now).is_ok() {
                        entered.insert(next_id, (queue, priority, next_id, language));
                    }
                }
                Event::Ready(a) => {
                    let id = agents[a as usize];
                    if engine.agent_state(id).unwrap().0 != AgentState::OnCall {
                        engine.set_agent_state(id, AgentState::Ready, now).unwrap();
                        ringing.remove(id);
                    }
                }
                Event::Pause(a) => {
                    let id = agents[a as usize];
                    if engine.agent_state(id).unwrap().0 != AgentState::OnCall {
                        engine.set_agent_state(id, AgentState::Paused("x".into()), now).unwrap();
                        ringing.remove(id);
                    }
                }
                Event::Result { agent: a, result } => {
                    let id = agents[a as usize];
                    if let Some(caller) = ringing.remove(id) {
                        let result = [OfferResult::Answered, OfferResult::NoAnswer, OfferResult::Busy, OfferResult::Failed][result as usize];
                        if result == OfferResult::Answered {
                            let (queue, priority, seq, language) = entered[&caller];
                            answered_keys.push((queue, priority, seq, language, id.to_owned()));
                            // Ring-all agents of the same caller stop ringing.
                            ringing.retain(|_, c| *c != caller);
                            entered.remove(&caller);
                        }
                        engine.offer_result(caller, id, result, now);
                    }
                }
                Event::End(a) => {
                    let id = agents[a as usize];
                    if engine.agent_state(id).unwrap().0 == AgentState::OnCall {
                        engine.call_ended(id, 1_000, now);
                    }
                }
                Event::Abandon(c) => {
                    let c = CallerId::from(c);
                    if engine.remove_caller(c, now, Leave::Abandoned) {
                        entered.remove(&c);
                        ringing.retain(|_, caller| *caller != c);
                    }
                }
                Event::Tick(ms) => now += u64::from(ms),
            }
            for offer in engine.dispatch(now) {
                prop_assert!(entered.contains_key(&offer.caller));
                prop_assert!(
                    !ringing.values().any(|c| *c == offer.caller),
                    "caller {} offered twice", offer.caller
                );
                for agent in &offer.agents {
                    prop_assert!(!ringing.contains_key(agent), "{agent} rings twice");
                    ringing.insert(agent.clone(), offer.caller);
                }
            }
            for (agent, caller) in &ringing {
                prop_assert_eq!(engine.agent_state(agent).unwrap().0, AgentState::Ringing);
                prop_assert!(engine.position(*caller).is_some());
            }
        }
    }

    #[test]
    fn earlier_caller_offered_first(events in proptest::collection::vec(event(), 1..80)) {
        // Every agent can serve every caller and results are only answered
        // or no answer, so no busy skip applies: each offer must go to the
        // first waiting caller in priority and arrival order.
        let mut engine = Engine::new(5);
        engine.set_queue(&queue("q0", Strategy::LeastBusy));
        let agents = ["a0", "a1", "a2", "a3", "a4"];
        for id in agents {
            engine.upsert_agent(agent(id, &[], &["sl"]), 0);
            engine.set_agent_state(id, AgentState::Ready, 0).unwrap();
        }
        let mut now = 0u64;
        let mut next_id: CallerId = 0;
        let mut ringing: HashMap<String, CallerId> = HashMap::new();
        // Waiting callers not being offered, by (-priority, id).
        let mut waiting: std::collections::BTreeSet<(i64, CallerId)> = Default::default();
        let mut priority_of: HashMap<CallerId, i64> = HashMap::new();
        for event in events {
            match event {
                Event::Enqueue { priority, .. } => {
                    next_id += 1;
                    engine.enqueue("q0", caller(next_id, priority, now), now).unwrap();
                    waiting.insert((-priority, next_id));
                    priority_of.insert(next_id, priority);
                }
                Event::Ready(a) | Event::Pause(a) => {
                    let id = agents[a as usize];
                    let state = engine.agent_state(id).unwrap().0;
                    if state == AgentState::Ready {
                        engine.set_agent_state(id, AgentState::Paused("x".into()), now).unwrap();
                    } else if state != AgentState::OnCall {
                        if let Some(caller) = ringing.remove(id) {
                            waiting.insert((-priority_of[&caller], caller));
                        }
                        engine.set_agent_state(id, AgentState::Ready, now).unwrap();
                    }
                }
                Event::Result { agent: a, result } => {
                    let id = agents[a as usize];
                    if let Some(caller) = ringing.remove(id) {
                        if result % 2 == 0 {
                            engine.offer_result(caller, id, OfferResult::Answered, now);
                        } else {
                            waiting.insert((-priority_of[&caller], caller));
                            engine.offer_result(caller, id, OfferResult::NoAnswer, now);
                        }
                    }
                }
                Event::End(a) => {
                    let id = agents[a as usize];
                    if engine.agent_state(id).unwrap().0 == AgentState::OnCall {
                        engine.call_ended(id, 1_000, now);
                    }
                }
                Event::Abandon(c) => {
                    let c = CallerId::from(c);
                    if engine.remove_caller(c, now, Leave::Abandoned) {
                        if let Some(p) = priority_of.get(&c) {
                            waiting.remove(&(-p, c));
                        }
                        ringing.retain(|_, caller| *caller != c);
                    }
                }
                Event::Tick(ms) => now += u64::from(ms),
            }
            for offer in engine.dispatch(now) {
                let first = waiting.pop_first();
                prop_assert_eq!(first.map(|(_, id)| id), Some(offer.caller));
                for agent in &offer.agents {
                    ringing.insert(agent.clone(), offer.caller);
                }
            }
            let ready = agents.iter().any(|id| engine.agent_state(id).unwrap().0 == AgentState::Ready);
            prop_assert!(!ready || waiting.is_empty(), "a ready agent and a waiting caller remain");
        }
    }
}
