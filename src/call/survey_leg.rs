//! The post-call survey inside a call: when the agent hangs up first and the call's queue has a
//! survey, the caller stays on the line, the agent goes to wrap-up, and a
//! [`SurveyRun`](crate::survey::SurveyRun) takes over the caller leg. This file feeds it digits,
//! prompt ends and timer expiries, and turns its actions into media commands and events. The
//! thank-you prompt is played only after the answers are durable (`after_commit`).

use std::time::Instant;

use super::{CallRef, Engine, MediaCommand, Phase};
use crate::events::{EventKind, HangupSide};
use crate::survey::{PromptId, SurveyAction, SurveyRun};

/// The agent sent BYE on a bridged call: start the survey if the queue has one. Returns false
/// when the call should simply end.
pub fn start_after_agent_hangup(e: &mut Engine, now: Instant, call: CallRef) -> bool {
    let Some(c) = e.calls.get_mut(&call) else { return false };
    if c.phase != Phase::Bridged {
        return false;
    }
    let Some(spec) = e.config.queue(&c.queue).and_then(|q| q.survey_spec()) else { return false };
    let agent = c.agent.as_mut().map(|a| {
        // The agent's BYE already ended its dialog.
        a.dialog = None;
        a.agent.clone()
    });
    c.phase = Phase::Survey;
    let questions = spec.questions.iter().map(|q| q.name().to_string()).collect();
    c.survey = Some(SurveyRun::start(spec));
    if let Some(agent) = agent {
        e.emit(now, call, Some(&agent), EventKind::AgentLeft { agent: agent.to_string() });
        e.finish_agent_call(now, call, &agent);
    }
    e.media(MediaCommand::Unbridge { call });
    e.emit(now, call, None, EventKind::SurveyStarted { questions });
    e.survey_calls.insert(call);
    drive(e, now, call);
    true
}

/// A DTMF digit from the caller.
pub fn digit(e: &mut Engine, now: Instant, call: CallRef, digit: char) {
    if let Some(run) = e.calls.get_mut(&call).and_then(|c| c.survey.as_mut()) {
        run.handle_digit(now, digit);
        drive(e, now, call);
    }
}

/// The prompt playing to the caller has ended.
pub fn prompt_finished(e: &mut Engine, now: Instant, call: CallRef) {
    if let Some(run) = e.calls.get_mut(&call).and_then(|c| c.survey.as_mut()) {
        run.handle_prompt_finished(now);
        drive(e, now, call);
    }
}

pub fn handle_timeouts(e: &mut Engine, now: Instant) {
    let due: Vec<CallRef> = e
        .survey_calls
        .iter()
        .copied()
        .filter(|c| {
            e.calls.get(c).and_then(|c| c.survey.as_ref()).and_then(|r| r.poll_timeout()).is_some_and(|t| t <= now)
        })
        .collect();
    for call in due {
        if let Some(run) = e.calls.get_mut(&call).and_then(|c| c.survey.as_mut()) {
            run.handle_timeout(now);
        }
        drive(e, now, call);
    }
}

pub fn poll_timeout(e: &Engine) -> Option<Instant> {
    e.survey_calls
        .iter()
        .filter_map(|c| e.calls.get(c).and_then(|c| c.survey.as_ref()).and_then(|r| r.poll_timeout()))
        .min()
}

/// The call ends during the survey: if a question was still open, record the abandonment.
pub fn abandon_if_unfinished(e: &mut Engine, now: Instant, call: CallRef) {
    let open = e.calls.get(&call).and_then(|c| c.survey.as_ref()).and_then(|r| r.current_question());
    if let Some(question) = open {
        e.emit(now, call, None, EventKind::SurveyAbandoned { question: Some(question.name().to_string()) });
    }
}

/// Carries out what the survey asks for.
fn drive(e: &mut Engine, now: Instant, call: CallRef) {
    let actions: Vec<SurveyAction> = match e.calls.get_mut(&call).and_then(|c| c.survey.as_mut()) {
        Some(run) => std::iter::from_fn(|| run.poll_action()).collect(),
        None => return,
    };
    for action in actions {
        match action {
            SurveyAction::Play(prompt) => {
                let after_commit = prompt == PromptId::SurveyThanks;
                e.last_playback += 1;
                let playback = e.last_playback;
                if let Some(c) = e.calls.get_mut(&call) {
                    c.playback = Some(playback);
                }
                e.media(MediaCommand::PlayPrompt { call, prompt, after_commit, playback });
            }
            SurveyAction::Answered { question, digit } => {
                e.emit(now, call, None, EventKind::SurveyAnswered { question: question.name().to_string(), digit });
            }
            SurveyAction::Invalid { question, digit } => {
                let kind = EventKind::SurveyInvalid { question: question.name().to_string(), digit: digit.to_string() };
                e.emit(now, call, None, kind);
            }
            SurveyAction::NoAnswer { question } => {
                e.emit(now, call, None, EventKind::SurveyNoAnswer { question: question.name().to_string() });
            }
            SurveyAction::Hangup => {
                e.hang_up(now, call, HangupSide::Agent, "agent_hangup");
                return;
            }
        }
    }
}

/// The digit in a SIP INFO body (`application/dtmf-relay` "Signal=5", or `application/dtmf` "5").
pub fn digit_from_info(content_type: &str, body: &[u8]) -> Option<char> {
    let text = std::str::from_utf8(body).ok()?;
    let ct = content_type.to_ascii_lowercase();
    let value = if ct.starts_with("application/dtmf-relay") {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            k.trim().eq_ignore_ascii_case("signal").then(|| v.trim())
        })?
    } else if ct.starts_with("application/dtmf") {
        text.trim()
    } else {
        return None;
    };
    let mut chars = value.chars();
    let d = chars.next()?;
    (chars.next().is_none() && (d.is_ascii_digit() || matches!(d, '*' | '#' | 'A'..='D'))).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::digit_from_info;

    #[test]
    fn info_bodies() {
        assert_eq!(digit_from_info("application/dtmf-relay", b"Signal=4\r\nDuration=160\r\n"), Some('4'));
        assert_eq!(digit_from_info("Application/DTMF-Relay", b"signal= #\r\n"), Some('#'));
        assert_eq!(digit_from_info("application/dtmf", b"7"), Some('7'));
        assert_eq!(digit_from_info("application/dtmf-relay", b"Signal=45\r\n"), None);
        assert_eq!(digit_from_info("application/dtmf-relay", b"Duration=160\r\n"), None);
        assert_eq!(digit_from_info("text/plain", b"4"), None);
        assert_eq!(digit_from_info("application/dtmf", &[0xff, 0xfe]), None);
    }
}
