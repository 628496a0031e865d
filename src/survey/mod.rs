//! The post-call survey IVR as a sans-IO state machine. After the agent hangs up, the caller stays
//! on the line and is asked each configured question (CSAT 1–5, then optionally "was your issue
//! resolved? 1 yes 2 no"). A [`SurveyRun`] is driven by `handle_prompt_finished`, `handle_digit`
//! and `handle_timeout` with the current time, and tells its owner what to do through
//! `poll_action` (play a prompt, record an answer, hang up) and when to wake it through
//! `poll_timeout`. Digits may interrupt a question prompt (barge-in); an invalid digit plays the
//! "not a valid choice" prompt and repeats the question; no digit within the timeout repeats it;
//! after `max_attempts` the question is recorded as unanswered and the survey moves on. It always
//! ends with the thank-you prompt, then a hangup.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A survey question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Question {
    /// "How satisfied are you, from 1 to 5?"
    Csat,
    /// "Was your issue resolved? 1 yes, 2 no."
    Resolved,
}

impl Question {
    /// Whether `digit` answers this question.
    pub fn accepts(self, digit: char) -> bool {
        match self {
            Question::Csat => ('1'..='5').contains(&digit),
            Question::Resolved => digit == '1' || digit == '2',
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Question::Csat => "csat",
            Question::Resolved => "resolved",
        }
    }

    pub fn prompt(self) -> PromptId {
        match self {
            Question::Csat => PromptId::SurveyCsat,
            Question::Resolved => PromptId::SurveyResolved,
        }
    }
}

/// The prompts the survey plays; the shell maps them to loaded WAV files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PromptId {
    SurveyCsat,
    SurveyResolved,
    SurveyInvalid,
    SurveyThanks,
}

impl PromptId {
    pub const ALL: [PromptId; 4] =
        [PromptId::SurveyCsat, PromptId::SurveyResolved, PromptId::SurveyInvalid, PromptId::SurveyThanks];

    /// The WAV file's name inside `media.survey_prompts_dir`.
    pub fn file_name(self) -> &'static str {
        match self {
            PromptId::SurveyCsat => "survey_csat.wav",
            PromptId::SurveyResolved => "survey_resolved.wav",
            PromptId::SurveyInvalid => "survey_invalid.wav",
            PromptId::SurveyThanks => "survey_thanks.wav",
        }
    }
}

/// A queue's survey settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveySpec {
    pub questions: Vec<Question>,
    /// How long to wait for a digit after a question has been played.
    pub digit_timeout: Duration,
    /// Tries per question (invalid digits and timeouts both count).
    pub max_attempts: u32,
}

/// What the owner of a survey must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SurveyAction {
    /// Play this prompt to the caller (replacing whatever plays).
    Play(PromptId),
    /// The caller answered a question. Record it before the thank-you prompt is heard.
    Answered { question: Question, digit: u8 },
    /// The caller pressed a key that does not answer the question (the question is repeated
    /// while attempts remain).
    Invalid { question: Question, digit: char },
    /// The caller gave no valid answer to a question within its attempts.
    NoAnswer { question: Question },
    /// The survey is over: hang up.
    Hangup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// A question (or the invalid-choice prompt before a repeat) is playing.
    Asking {
        repeat_after_invalid: bool,
    },
    /// The question was played; waiting for a digit until the deadline.
    Waiting {
        deadline: Instant,
    },
    Thanking,
    Done,
}

/// One caller's survey in progress.
#[derive(Debug)]
pub struct SurveyRun {
    spec: SurveySpec,
    index: usize,
    attempts: u32,
    state: State,
    actions: VecDeque<SurveyAction>,
}

impl SurveyRun {
    /// Starts the survey: the first question plays (or, with no questions, the thank-you).
    pub fn start(spec: SurveySpec) -> SurveyRun {
        let mut run = SurveyRun { spec, index: 0, attempts: 0, state: State::Done, actions: VecDeque::new() };
        run.ask_current();
        run
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The question being asked, if any.
    pub fn current_question(&self) -> Option<Question> {
        match self.state {
            State::Asking { .. } | State::Waiting { .. } => self.spec.questions.get(self.index).copied(),
            State::Thanking | State::Done => None,
        }
    }

    pub fn poll_action(&mut self) -> Option<SurveyAction> {
        self.actions.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Waiting { deadline } => Some(deadline),
            _ => None,
        }
    }

    /// The prompt that was playing has ended.
    pub fn handle_prompt_finished(&mut self, now: Instant) {
        match self.state {
            State::Asking { repeat_after_invalid: true } => self.ask_current(),
            State::Asking { repeat_after_invalid: false } => {
                self.state = State::Waiting { deadline: now + self.spec.digit_timeout };
            }
            State::Thanking => {
                self.state = State::Done;
                self.actions.push_back(SurveyAction::Hangup);
            }
            State::Waiting { .. } | State::Done => {}
        }
    }

    /// The caller pressed `digit` (DTMF, already de-duplicated).
    pub fn handle_digit(&mut self, _now: Instant, digit: char) {
        let Some(question) = self.current_question() else { return };
        if question.accepts(digit) {
            let value = digit.to_digit(10).map(|d| d as u8).unwrap_or(0);
            self.actions.push_back(SurveyAction::Answered { question, digit: value });
            self.next_question();
        } else {
            self.actions.push_back(SurveyAction::Invalid { question, digit });
            self.failed_attempt(true);
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if let State::Waiting { deadline } = self.state {
            if now >= deadline {
                self.failed_attempt(false);
            }
        }
    }

    fn failed_attempt(&mut self, invalid: bool) {
        let Some(question) = self.current_question() else { return };
        self.attempts += 1;
        if self.attempts >= self.spec.max_attempts.max(1) {
            self.actions.push_back(SurveyAction::NoAnswer { question });
            self.next_question();
        } else if invalid {
            self.state = State::Asking { repeat_after_invalid: true };
            self.actions.push_back(SurveyAction::Play(PromptId::SurveyInvalid));
        } else {
            self.ask_current();
        }
    }

    fn next_question(&mut self) {
        self.index += 1;
        self.attempts = 0;
        self.ask_current();
    }

    fn ask_current(&mut self) {
        match self.spec.questions.get(self.index) {
            Some(q) => {
                self.state = State::Asking { repeat_after_invalid: false };
                self.actions.push_back(SurveyAction::Play(q.prompt()));
            }
            None => {
                self.state = State::Thanking;
                self.actions.push_back(SurveyAction::Play(PromptId::SurveyThanks));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(questions: Vec<Question>) -> SurveySpec {
        SurveySpec { questions, digit_timeout: Duration::from_secs(5), max_attempts: 3 }
    }

    fn drain(run: &mut SurveyRun) -> Vec<SurveyAction> {
        std::iter::from_fn(|| run.poll_action()).collect()
    }

    #[test]
    fn csat_answer_then_thanks_then_hangup() {
        let t0 = Instant::now();
        let mut run = SurveyRun::start(spec(vec![Question::Csat]));
        assert_eq!(drain(&mut run), vec![SurveyAction::Play(PromptId::SurveyCsat)]);
        run.handle_prompt_finished(t0);
        assert_eq!(run.poll_timeout(), Some(t0 + Duration::from_secs(5)));
        run.handle_digit(t0, '4');
        assert_eq!(
            drain(&mut run),
            vec![
                SurveyAction::Answered { question: Question::Csat, digit: 4 },
                SurveyAction::Play(PromptId::SurveyThanks)
            ]
        );
        run.handle_digit(t0, '5');
        assert!(drain(&mut run).is_empty(), "digits during the thank-you are ignored");
        run.handle_prompt_finished(t0);
        assert_eq!(drain(&mut run), vec![SurveyAction::Hangup]);
        assert!(run.is_done());
    }

    #[test]
    fn barge_in_during_the_question_is_an_answer() {
        let t0 = Instant::now();
        let mut run = SurveyRun::start(spec(vec![Question::Csat, Question::Resolved]));
        drain(&mut run);
        run.handle_digit(t0, '2');
        assert_eq!(
            drain(&mut run),
            vec![
                SurveyAction::Answered { question: Question::Csat, digit: 2 },
                SurveyAction::Play(PromptId::SurveyResolved)
            ]
        );
    }

    #[test]
    fn invalid_digit_reprompts_then_accepts() {
        let t0 = Instant::now();
        let mut run = SurveyRun::start(spec(vec![Question::Csat]));
        drain(&mut run);
        run.handle_prompt_finished(t0);
        run.handle_digit(t0, '9');
        assert_eq!(
            drain(&mut run),
            vec![
                SurveyAction::Invalid { question: Question::Csat, digit: '9' },
                SurveyAction::Play(PromptId::SurveyInvalid)
            ]
        );
        run.handle_prompt_finished(t0);
        assert_eq!(drain(&mut run), vec![SurveyAction::Play(PromptId::SurveyCsat)]);
        run.handle_prompt_finished(t0);
        run.handle_digit(t0, '3');
        assert_eq!(drain(&mut run)[0], SurveyAction::Answered { question: Question::Csat, digit: 3 });
    }

    #[test]
    fn silence_reprompts_up_to_max_attempts_then_gives_up() {
        let t0 = Instant::now();
        let mut run = SurveyRun::start(spec(vec![Question::Csat, Question::Resolved]));
        drain(&mut run);
        let mut now = t0;
        for _ in 0..2 {
            run.handle_prompt_finished(now);
            now += Duration::from_secs(5);
            run.handle_timeout(now - Duration::from_millis(1));
            assert!(drain(&mut run).is_empty(), "not yet due");
            run.handle_timeout(now);
            assert_eq!(drain(&mut run), vec![SurveyAction::Play(PromptId::SurveyCsat)]);
        }
        run.handle_prompt_finished(now);
        now += Duration::from_secs(5);
        run.handle_timeout(now);
        assert_eq!(
            drain(&mut run),
            vec![SurveyAction::NoAnswer { question: Question::Csat }, SurveyAction::Play(PromptId::SurveyResolved)]
        );
        // The next question gets its own attempts.
        run.handle_prompt_finished(now);
        run.handle_digit(now, '1');
        assert_eq!(drain(&mut run)[0], SurveyAction::Answered { question: Question::Resolved, digit: 1 });
    }

    #[test]
    fn invalid_digits_count_as_attempts() {
        let t0 = Instant::now();
        let mut run = SurveyRun::start(spec(vec![Question::Resolved]));
        drain(&mut run);
        for _ in 0..2 {
            run.handle_digit(t0, '7');
            assert_eq!(
                drain(&mut run),
                vec![
                    SurveyAction::Invalid { question: Question::Resolved, digit: '7' },
                    SurveyAction::Play(PromptId::SurveyInvalid)
                ]
            );
            run.handle_prompt_finished(t0);
            drain(&mut run);
        }
        run.handle_digit(t0, '#');
        assert_eq!(
            drain(&mut run),
            vec![
                SurveyAction::Invalid { question: Question::Resolved, digit: '#' },
                SurveyAction::NoAnswer { question: Question::Resolved },
                SurveyAction::Play(PromptId::SurveyThanks)
            ]
        );
    }
}
