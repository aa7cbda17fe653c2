import pytest

from lpsr.data.ccpd import CCPDNameError, ccpd_name, decode_plate, encode_plate, parse_ccpd_name

BLUE = "025-95_113-154&383_386&473-386&473_177&454_154&383_363&402-0_0_22_27_27_33_16-37-15.jpg"
GREEN = "004636015325670498-90_268-329&567_450&602-450&602_329&601_330&569_449&567-0_0_3_26_26_33_27_33-176-28.jpg"


def test_blue_plate_name():
    a = parse_ccpd_name(BLUE)
    assert a.area == 25 and a.tilt == (95, 113)
    assert a.bbox == (154, 383, 386, 473)
    assert a.vertices == ((386, 473), (177, 454), (154, 383), (363, 402))
    assert a.text == "皖AY339S" and not a.green
    assert (a.brightness, a.blurriness) == (37, 15)


def test_green_plate_name_has_8_characters():
    a = parse_ccpd_name("some/folder/" + GREEN)
    assert a.green and len(a.text) == 8
    assert a.text == "皖AD22939"
    assert a.name == GREEN


def test_decoding_tables():
    assert decode_plate([0, 0, 0, 0, 0, 0, 0]) == "皖AAAAAA"
    assert decode_plate([30, 24, 33, 32, 24, 25, 26]) == "新O98012"
    assert decode_plate([32, 0, 24, 24, 24, 24, 24]) == "学A00000"
    assert decode_plate([12, 1, 24, 25, 26, 27, 28]) == "京B01234"
    assert encode_plate("京B01234") == (12, 1, 24, 25, 26, 27, 28)


@pytest.mark.parametrize(
    "name, message",
    [
        ("hello.jpg", "7 '-'-separated fields"),
        ("025-95_113-154&383_386&473-386&473_177&454_154&383-0_0_22_27_27_33_16-37-15.jpg", "4 vertices"),
        ("025-95_113-154&383_386&473-386&473_177&454_154&383_363&402-0_0_22_27_27-37-15.jpg", "7 or 8"),
        ("025-95_113-154&383_386&473-386&473_177&454_154&383_363&402-0_0_22_27_27_33_99-37-15.jpg", "index 99"),
        ("0x5-95_113-154&383_386&473-386&473_177&454_154&383_363&402-0_0_22_27_27_33_16-37-15.jpg", "not a number"),
        (
            "025-95_113-386&473_154&383-386&473_177&454_154&383_363&402-0_0_22_27_27_33_16-37-15.jpg",
            "empty bounding box",
        ),
    ],
)
def test_malformed_names_raise_clear_errors(name, message):
    with pytest.raises(CCPDNameError, match=message):
        parse_ccpd_name(name)


def test_ccpd_name_round_trip():
    vertices = ((300, 220), (100, 210), (104, 150), (296, 160))
    name = ccpd_name(vertices, encode_plate("沪C8GK31"), tilt=(88, 92), brightness=120, blurriness=5, prefix="0007")
    a = parse_ccpd_name(name)
    assert a.text == "沪C8GK31"
    assert a.vertices == vertices
    assert a.bbox == (100, 150, 300, 220)
