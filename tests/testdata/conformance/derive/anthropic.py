# Derives the OpenAI-side expectations for every Anthropic fixture (run once; output reviewed and committed).
import json, re, os
import os
HERE=os.path.dirname(os.path.abspath(__file__))
D=os.path.join(HERE, '../../providers/anthropic')
man=json.load(open(f'{D}/manifest.json'))
def sse_events(text):
    out=[]
    for block in re.split(r'\r?\n\r?\n', text):
        data=[l[5:].lstrip(' ') if l.startswith('data:') else None for l in block.splitlines()]
        data=[d for d in data if d is not None]
        if data: out.append(json.loads('\n'.join(data)))
    return out
FINISH={'end_turn':'stop','stop_sequence':'stop','pause_turn':'stop','max_tokens':'length','tool_use':'tool_calls','refusal':'content_filter'}
def usage(u_in, u_out):
    p=u_in.get('input_tokens',0)+u_in.get('cache_creation_input_tokens',0)+u_in.get('cache_read_input_tokens',0)
    c=u_out
    return {'prompt_tokens':p,'completion_tokens':c,'total_tokens':p+c,'cached_tokens':u_in.get('cache_read_input_tokens',0)}
def expect_stream(text):
    ev=sse_events(text); content=''; tools={}; order=[]; finish=None; u_in={}; u_out=0
    for e in ev:
        t=e['type']
        if t=='message_start': u_in=dict(e['message']['usage']); u_out=e['message']['usage'].get('output_tokens',0)
        elif t=='content_block_start' and e['content_block']['type']=='tool_use':
            tools[e['index']]={'id':e['content_block']['id'],'name':e['content_block']['name'],'arguments':''}; order.append(e['index'])
        elif t=='content_block_delta':
            d=e['delta']
            if d['type']=='text_delta': content+=d['text']
            if d['type']=='input_json_delta': tools[e['index']]['arguments']+=d['partial_json']
        elif t=='message_delta':
            finish=FINISH[e['delta']['stop_reason']]
            for k in ('input_tokens','cache_creation_input_tokens','cache_read_input_tokens'):
                if k in e.get('usage',{}): u_in[k]=e['usage'][k]
            u_out=e['usage'].get('output_tokens',u_out)
    tcs=[tools[i] for i in order]
    for t in tcs:
        if t['arguments']=='' : t['arguments']='{}'
    return {'content':content,'tool_calls':tcs,'finish_reason':finish,'usage':usage(u_in,u_out)}
def expect_body(text):
    b=json.loads(text); content=''.join(c['text'] for c in b['content'] if c['type']=='text')
    tcs=[{'id':c['id'],'name':c['name'],'arguments':json.dumps(c['input'],separators=(',',':'))} for c in b['content'] if c['type']=='tool_use']
    return {'content':content,'tool_calls':tcs,'finish_reason':FINISH[b['stop_reason']],'usage':usage(b['usage'],b['usage']['output_tokens'])}
WEATHER_TOOL_SF={"type":"function","function":{"name":"get_weather","description":"","parameters":{"additionalProperties":False,"properties":{"location":{"title":"Location","type":"string"},"units":{"enum":["c","f"],"title":"Units","type":"string"}},"required":["location","units"],"type":"object"}}}
WEATHER_TOOL_LOOKUP={"type":"function","function":{"name":"get_weather","description":"Lookup the weather for a given city in either celsius or fahrenheit","parameters":{"additionalProperties":False,"properties":{"location":{"description":"The city and state, e.g. San Francisco, CA","title":"Location","type":"string"},"units":{"description":"Unit for the output, either 'c' for celsius or 'f' for fahrenheit","enum":["c","f"],"title":"Units","type":"string"}},"required":["location","units"],"type":"object"}}}
REQ={
 'chat': {"messages":[{"role":"system","content":"You are a concise assistant."},{"role":"user","content":"Hello, Claude"}],"max_completion_tokens":1024,"temperature":0.7,"stop":"\n\nHuman:","user":"user-1234"},
 'chat_stream': {"messages":[{"role":"user","content":"Say hello there!"}],"max_tokens":1024,"stream":True},
 'tool_call': {"messages":[{"role":"user","content":"What's the weather in SF in Celsius?"}],"max_tokens":1024,"tools":[WEATHER_TOOL_SF]},
 'tool_result': {"messages":[{"role":"user","content":"What's the weather in SF in Celsius?"},{"role":"assistant","content":None,"tool_calls":[{"id":"toolu_013DU6hV4C1M8dJ32ybQFAFi","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"SF\",\"units\":\"c\"}"}}]},{"role":"tool","tool_call_id":"toolu_013DU6hV4C1M8dJ32ybQFAFi","content":"{\"location\": \"SF\", \"temperature\": \"20\\u00b0C\", \"condition\": \"Sunny\"}"}],"max_tokens":1024,"tools":[WEATHER_TOOL_SF]},
 'tool_call_stream': {"messages":[{"role":"user","content":"What is the weather in SF?"}],"max_tokens":1024,"tools":[WEATHER_TOOL_LOOKUP],"stream":True},
 'tool_result_stream': {"messages":[{"role":"user","content":"What is the weather in SF?"},{"role":"assistant","content":None,"tool_calls":[{"id":"toolu_018acGYLtfR52q9yDbWaEdQZ","type":"function","function":{"name":"get_weather","arguments":"{\"location\": \"San Francisco, CA\", \"units\": \"f\"}"}}]},{"role":"tool","tool_call_id":"toolu_018acGYLtfR52q9yDbWaEdQZ","content":"{\"location\": \"San Francisco, CA\", \"temperature\": \"68\\u00b0F\", \"condition\": \"Sunny\"}"}],"max_tokens":1024,"tools":[WEATHER_TOOL_LOOKUP],"stream":True},
 'text_and_tool_stream': {"messages":[{"role":"user","content":"What is the weather in Paris?"}],"max_tokens":1024,"tools":[{"type":"function","function":{"name":"get_weather","description":"Get the current weather for a location","parameters":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}}],"stream":True},
 'error_400_invalid_request_error': {"messages":[{"role":"user","content":"What's the weather in SF in Celsius?"},{"role":"tool","tool_call_id":"toolu_01GHndag5wQmbzNihYmV2UBj","content":"The weather in San Francisco, CA is currently sunny with a temperature of 20°C."}],"max_tokens":1024,"tools":[{"type":"function","function":{"name":"get_weather","description":"Lookup the weather for a given city in either celsius or fahrenheit","parameters":{"additionalProperties":False,"properties":{"location":{"description":"The city and state, e.g. San Francisco, CA","title":"Location","type":"string"},"units":{"description":"Unit for the output, either 'c' for celsius or 'f' for fahrenheit","enum":["c","f"],"title":"Units","type":"string"}},"required":["location","units"],"type":"object"}}}]},
}
# An upstream's 401/403 means the operator's provider key is refused: the gateway's own 502, never
# the client's 401 nor the provider's words (docs/providers.md).
def auth_failed(provider):
    return {'status':502,'type':'server_error','code':'upstream_auth_failed','message':f"The provider {provider} refused the gateway's credentials; the gateway's operator must check its API key for this provider."}
ERR={400:('invalid_request_error',None),401:('authentication_error','invalid_api_key'),403:('permission_error',None),404:('not_found_error','model_not_found'),413:('invalid_request_error','request_too_large'),429:('rate_limit_error','rate_limit_exceeded'),500:('server_error',None),529:('server_error','overloaded')}
cases=[]
for f in man['fixtures']:
    name=f['name']
    if name=='models': continue
    body=open(f"{D}/{f['response']}").read()
    case={'fixture':name}
    if name in REQ: case['openai']=REQ[name]
    else: case['openai']={"messages":[{"role":"user","content":"Hello"}],"stream":f['response'].endswith('.sse')} if f['status']==200 else {"messages":[{"role":"user","content":"Hello"}]}
    case['upstream']={'method':'POST','path':'/v1/messages','headers':{'x-api-key':'sk-ant-conformance','anthropic-version':'2023-06-01'}}
    if f.get('request') and name!='error_400_invalid_request_error':
        case['upstream']['body']=f['request']
        case['upstream']['ignore']=['model','messages[*].content[*].caller']
    if name=='error_400_invalid_request_error':
        case['note']='The captured request is the malformed one that caused the error (a tool_result without its tool_use, in a second user message); aimarket merges the two user turns, so only the error mapping is compared.'
    if f['status']!=200:
        st=f['status']; typ,code=ERR[st]
        e=json.loads(body)['error']
        case['expect']={'error':auth_failed('anthropic') if st in (401,403) else {'status':503 if st==529 else st,'type':typ,'code':code,'message':e['message']}}
        if f.get('headers',{}).get('retry-after'): case['expect']['error']['retry_after']=f['headers']['retry-after']
    elif f['response'].endswith('.sse'):
        case['expect']=expect_stream(body)
    else:
        case['expect']=expect_body(body)
    cases.append(case)
json.dump({'provider':'anthropic','config':{'type':'anthropic','api_key_env':'AIMARKET_CONFORMANCE_ANTHROPIC_KEY','api_key':'sk-ant-conformance'},'cases':cases},open(os.path.join(HERE, '../anthropic.json'),'w'),indent=1,ensure_ascii=False)
print(len(cases))
