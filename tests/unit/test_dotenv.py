import pytest

from analytics_engine import dotenv


def test_parses_comments_quotes_and_earlier_references() -> None:
    text = "# ports\nA_PORT=5\nexport B='x y'\nADDR=host:${A_PORT}\n\nURL=\"r://${ADDR}/0\"\n"
    assert dotenv.parse(text) == {
        "A_PORT": "5",
        "B": "x y",
        "ADDR": "host:5",
        "URL": "r://host:5/0",
    }


@pytest.mark.parametrize("text", ["NOEQUALS\n", "A=${LATER}\nLATER=1\n"])
def test_rejects_what_compose_would_misread(text: str) -> None:
    with pytest.raises(ValueError):
        dotenv.parse(text)
