from retrieval.sentences import split_sentences


def sentences(text):
    return [text[s:e] for s, e in split_sentences(text)]


def test_abbreviations_dates_and_titles_do_not_split():
    text = "On Sept. 29 the U.S. said no. Mr. Trump agreed. Dr. J. Smith arrived at 5 p.m. Tuesday."
    assert sentences(text) == ["On Sept. 29 the U.S. said no.", "Mr. Trump agreed.", "Dr. J. Smith arrived at 5 p.m. Tuesday."]


def test_dotted_acronym_at_sentence_end_splits_before_a_common_starter():
    assert sentences("Sanctions came from the U.S. The move was expected.") == [
        "Sanctions came from the U.S.",
        "The move was expected.",
    ]


def test_quotes_and_question_marks_inside_quotes():
    text = '“It is frustrating,” he said. "Why?" she asked. He said "Stop." Then he left.'
    assert sentences(text) == ["“It is frustrating,” he said.", '"Why?" she asked.', 'He said "Stop."', "Then he left."]


def test_ellipses():
    assert sentences("Wait... what happened? I know… Nothing more.") == ["Wait... what happened?", "I know…", "Nothing more."]


def test_line_breaks_without_full_stop_end_a_sentence_but_wrapped_lines_do_not():
    text = "A headline without a stop\nThe body starts here and goes\non to the next line. Done."
    assert sentences(text) == ["A headline without a stop", "The body starts here and goes\non to the next line.", "Done."]


def test_offsets_point_into_the_original_text_and_skip_blank_material():
    text = "  First one.\n\n\n   Second one!  \n"
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == ["First one.", "Second one!"]


def test_run_on_text_is_cut_into_bounded_pieces():
    text = " ".join(["word"] * 1000)
    spans = split_sentences(text)
    assert len(spans) > 1
    assert all(len(text[s:e].split()) <= 120 for s, e in spans)
