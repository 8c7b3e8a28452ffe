"""The citizen's 好差评 page on a phone (360×780, headless Chromium; issue 24, E35): opened from
its one-time link without login, it fits the screen, takes 好 and a comment, thanks, and the
same link then refuses a second score in Chinese."""

from __future__ import annotations

from selenium.webdriver.common.by import By

from app.hotline import desk_over, evaluations
from incidents import keys
from tests.app.authkit import accounts, app_ctx, web  # noqa: F401
from tests.app.e2ekit import chrome, live, wait  # noqa: F401
from tests.app.test_api import PZ, point_in
from tests.app.test_hotline import closed_hotline_case


def test_the_citizen_scores_a_case_on_a_phone(live, app_ctx):  # noqa: F811
    iid = closed_hotline_case(app_ctx, *point_in(app_ctx.city, PZ))
    desk_over(app_ctx, app_ctx.incidents).sync()
    path = evaluations(app_ctx).path(iid, evaluations(app_ctx).issue(iid))
    d = chrome(360, 780, mobile=True)
    try:
        d.get(live + path)
        wait(lambda: d.find_elements(By.ID, "pj-form"), what="the evaluation form")
        assert d.execute_script("return document.documentElement.scrollWidth") <= 360   # fits
        assert "请为本次服务评价" in d.find_element(By.TAG_NAME, "h1").text
        d.find_element(By.CSS_SELECTOR, "input[name=score][value='好']").click()
        d.find_element(By.NAME, "comment").send_keys("处理及时，谢谢")
        d.find_element(By.ID, "pj-submit").click()
        msg = wait(lambda: d.find_elements(By.ID, "pj-msg"), what="the answer")[0]
        assert "感谢您的评价" in msg.text
        assert app_ctx.redis.hget(keys.evaluation(iid), "score") == "5"
        assert app_ctx.redis.hget(keys.evaluation(iid), "comment") == "处理及时，谢谢"
        d.get(live + path)                                      # the same link again
        msg = wait(lambda: d.find_elements(By.ID, "pj-msg"), what="the refusal")[0]
        assert "已使用" in msg.text
    finally:
        d.quit()
