"""`manage.py demo --help` explains the command and every option it adds."""

from django.core.management import load_command_class

OWN_OPTIONS = {"--hosts", "--seed", "--bind", "--time-scale", "--no-lab"}


def _parser():
    command = load_command_class("lab", "demo")
    return command, command.create_parser("manage.py", "demo")


def test_it_describes_what_the_demo_does():
    command, parser = _parser()
    assert "simulated fleet" in command.help
    assert parser.description == command.help


def test_it_explains_every_option():
    _, parser = _parser()
    actions = {opt: action for action in parser._actions for opt in action.option_strings}
    assert actions.keys() >= OWN_OPTIONS
    for action in parser._actions:
        if action.option_strings:
            assert (action.help or "").strip(), f"{action.option_strings} has no help"


def test_it_names_the_defaults_in_the_help():
    _, parser = _parser()
    helps = {opt: action.help for action in parser._actions for opt in action.option_strings}
    assert "36" in helps["--hosts"]
    assert "7" in helps["--seed"]
    assert "127.0.0.1:8000" in helps["--bind"]
    assert "0.2" in helps["--time-scale"]
