"""The strength control says how much of the model's correction the slider applies."""

from __future__ import annotations

from harmonizer_gui.document.document import Document
from harmonizer_gui.window.toolbar import StrengthControl


def test_the_strength_value_shows_where_more_strength_stops_changing_anything(qtbot) -> None:  # noqa: ANN001
    document = Document()
    control = StrengthControl(document)
    qtbot.addWidget(control.slider)
    qtbot.addWidget(control.value)
    control.slider.setValue(150)
    assert control.value.text() == "150 %" and control.value.toolTip() == ""  # no preview yet: nothing known

    control.set_model_share(0.5)  # a gated model that held back half of its correction
    assert control.value.text() == "150 %"
    assert "chose 50 %" in control.value.toolTip() and "75 % of it is applied" in control.value.toolTip()
    assert "all of it from 200 %" in control.value.toolTip()
    control.slider.setValue(200)
    assert document.strength == 2.0 and control.value.text() == "200 % (all)"

    control.set_model_share(0.4)  # even 200 % applies only part of it
    assert control.value.text() == "200 %" and "80 % of it at most, at 200 %" in control.value.toolTip()

    control.set_model_share(1.0)  # a model without a gate: above 100 % is 100 %
    assert control.value.text() == "200 % (all)" and "more strength changes nothing" in control.value.toolTip()
    control.slider.setValue(100)
    assert control.value.text() == "100 %"
